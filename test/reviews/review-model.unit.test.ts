import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { laneOf, nextSequence } from '../../src/reviews/review.model.js';
import { assertSafeKeys } from '../../src/reviews/safe-keys.js';
import { isLocusError } from '../../src/shared/errors.js';

describe('assertSafeKeys', () => {
  const fieldOf = (value: unknown) => {
    try {
      assertSafeKeys(value, 'body');
      return undefined;
    } catch (error) {
      expect(isLocusError(error) && error.code).toBe('LOCUS_UNSAFE_KEY');
      return isLocusError(error) ? error.details[0]?.field : undefined;
    }
  };

  it('accepts plain keys, and $ or dots inside string values', () => {
    expect(fieldOf({ title: '$set', body: 'a.b', nested: [{ ok: 1 }] })).toBeUndefined();
    expect(fieldOf(null)).toBeUndefined();
    expect(fieldOf('x')).toBeUndefined();
  });

  it('names the first $-key or dotted key at any depth, inside arrays too', () => {
    expect(fieldOf({ $where: 'x' })).toBe('body/$where');
    expect(fieldOf({ a: { 'b.c': 1 } })).toBe('body/a/b.c');
    expect(fieldOf({ a: [{ ok: 1 }, { $gt: 1 }] })).toBe('body/a/1/$gt');
    expect(fieldOf({ 'x.': 1 })).toBe('body/x.');
  });
});

describe('outbox lanes and sequences', () => {
  it('puts every event of one product in one lane, spread over all lanes', () => {
    const product = randomUUID();
    expect(laneOf(product, 8)).toBe(laneOf(product, 8));
    const lanes = new Set(Array.from({ length: 400 }, () => laneOf(randomUUID(), 8)));
    expect([...lanes].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('orders one review’s versions even when the next writer’s clock is behind', () => {
    const first = nextSequence(new Date('2026-01-01T00:00:10Z'), 0);
    const second = nextSequence(new Date('2026-01-01T00:00:05Z'), first);
    expect(second).toBeGreaterThan(first);
    const later = nextSequence(new Date('2026-01-01T00:01:00Z'), second);
    expect(later).toBe(new Date('2026-01-01T00:01:00Z').getTime() * 1024);
    expect(Number.isSafeInteger(nextSequence(new Date('2200-01-01T00:00:00Z'), 0))).toBe(true);
  });
});
