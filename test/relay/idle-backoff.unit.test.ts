import { describe, expect, it } from 'vitest';
import { IdleBackoff } from '../../src/relay/idle-backoff.js';

describe('IdleBackoff', () => {
  it('does not wait while batches carry events', () => {
    const backoff = new IdleBackoff(5, 100);
    expect([3, 1, 500].map((n) => backoff.afterBatch(n))).toEqual([0, 0, 0]);
  });

  it('doubles the wait over consecutive empty batches up to the maximum', () => {
    const backoff = new IdleBackoff(5, 100);
    expect(Array.from({ length: 7 }, () => backoff.afterBatch(0))).toEqual([5, 10, 20, 40, 80, 100, 100]);
  });

  it('goes back to the shortest wait after a batch with events', () => {
    const backoff = new IdleBackoff(5, 100);
    for (let i = 0; i < 10; i++) backoff.afterBatch(0);
    expect(backoff.afterBatch(2)).toBe(0);
    expect(backoff.afterBatch(0)).toBe(5);
  });

  it('refuses bounds that cannot work', () => {
    expect(() => new IdleBackoff(0, 100)).toThrow(RangeError);
    expect(() => new IdleBackoff(50, 10)).toThrow(RangeError);
  });
});
