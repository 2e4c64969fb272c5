import { describe, expect, it } from 'vitest';
import { IdleBackoff } from '../../src/relay/idle-backoff.js';

describe('IdleBackoff', () => {
  it('does not wait while batches carry events', () => {
    const backoff = new IdleBackoff(5, 100);
    expect([3, 1, 500].map((n, i) => backoff.afterBatch(n, i))).toEqual([0, 0, 0]);
  });

  it('polls at the shortest wait for a while after the last events, then doubles up to the maximum', () => {
    const backoff = new IdleBackoff(5, 100, 1_000);
    backoff.afterBatch(4, 0);
    expect([10, 500, 999].map((t) => backoff.afterBatch(0, t))).toEqual([5, 5, 5]);
    expect([1_000, 1_010, 1_030, 1_070, 1_150, 1_250, 1_350].map((t) => backoff.afterBatch(0, t))).toEqual([
      5, 10, 20, 40, 80, 100, 100,
    ]);
  });

  it('backs off from the start when it has never seen events', () => {
    const backoff = new IdleBackoff(5, 100);
    expect([0, 5, 15].map((t) => backoff.afterBatch(0, t))).toEqual([5, 10, 20]);
  });

  it('goes back to the shortest wait after a batch with events', () => {
    const backoff = new IdleBackoff(5, 100, 0);
    for (let t = 0; t < 10; t++) backoff.afterBatch(0, t);
    expect(backoff.afterBatch(2, 20)).toBe(0);
    expect(backoff.afterBatch(0, 21)).toBe(5);
  });

  it('refuses bounds that cannot work', () => {
    expect(() => new IdleBackoff(0, 100)).toThrow(RangeError);
    expect(() => new IdleBackoff(50, 10)).toThrow(RangeError);
  });
});
