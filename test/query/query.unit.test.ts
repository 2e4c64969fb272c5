import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bandEdges, bucketStart, priceBandOf } from '../../src/query/analytics.aggregate.js';
import { BackendPolicy, databaseClassifier } from '../../src/query/backend.policy.js';
import { decodeCursor, encodeCursor } from '../../src/query/cursor.js';
import { Deadline, deadlineFromHeader } from '../../src/query/deadline.js';
import { round, roundOrNull } from '../../src/query/rounding.js';
import { chooseStrategy, LOCALITY_RATIO, type TableStats } from '../../src/query/strategy.router.js';

const big: TableStats = { products: 100_000, reviews: 5_000_000, categories: 200 };

describe('auto strategy router', () => {
  it('picks locality for top-rated over many reviews: the result is tiny next to the rows read', () => {
    const decision = chooseStrategy({
      query: 'top-rated',
      stats: big,
      windowFraction: 0.25,
      limitPerCategory: 10,
    });
    expect(decision.strategy).toBe('locality');
    expect(decision.rowsRead).toBe(1_250_000 + 100_000);
    expect(decision.expectedResultRows).toBe(2_000);
  });

  it('picks service-join for the export: the result is as large as the input', () => {
    const decision = chooseStrategy({ query: 'export', stats: big, windowFraction: 1 });
    expect(decision.strategy).toBe('service-join');
    expect(decision.expectedResultRows).toBe(5_000_000);
  });

  it('picks locality for a catalog-wide trend and category report', () => {
    expect(
      chooseStrategy({ query: 'rating-trend', stats: big, windowFraction: 0.1, buckets: 13 }).strategy,
    ).toBe('locality');
    expect(
      chooseStrategy({ query: 'category-report', stats: big, windowFraction: 0.1, priceBands: 5 }).strategy,
    ).toBe('locality');
  });

  it('switches at the ratio: just below it service-join, at it locality', () => {
    const stats: TableStats = { products: 0, reviews: 1_000, categories: 10 };
    // expected = 10 categories × limit; rows read = 1000
    const atRatio = chooseStrategy({
      query: 'top-rated',
      stats: { ...stats, products: 100 },
      windowFraction: 0.9,
      limitPerCategory: 10,
    });
    expect(atRatio.rowsRead).toBe(1_000);
    expect(atRatio.expectedResultRows).toBe(100);
    expect(atRatio.rowsRead >= LOCALITY_RATIO * atRatio.expectedResultRows).toBe(true);
    expect(atRatio.strategy).toBe('locality');
    const below = chooseStrategy({
      query: 'top-rated',
      stats: { ...stats, products: 100 },
      windowFraction: 0.89,
      limitPerCategory: 10,
    });
    expect(below.strategy).toBe('service-join');
  });

  it('a narrowed query expects one category; unknown statistics never divide by zero', () => {
    const narrowed = chooseStrategy({
      query: 'top-rated',
      stats: big,
      windowFraction: 0.01,
      limitPerCategory: 10,
      narrowed: true,
    });
    expect(narrowed.expectedResultRows).toBe(10);
    const empty = chooseStrategy({
      query: 'top-rated',
      stats: { products: -1, reviews: -1, categories: -1 },
      windowFraction: 0,
    });
    expect(empty.expectedResultRows).toBe(1);
    expect(empty.strategy).toBe('service-join');
  });
});

describe('cursor', () => {
  it('round-trips every key kind', () => {
    for (const key of ['4.2500', 12_345, 1_750_000_000_123_456, null] as const) {
      const cursor = { sort: 'rating', key, id: randomUUID() };
      expect(decodeCursor(encodeCursor(cursor), 'rating')).toEqual(cursor);
    }
  });

  it('is opaque base64url text', () => {
    expect(encodeCursor({ sort: 'price', key: 10, id: randomUUID() })).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it.each([
    ['not base64url', '%%%'],
    ['not JSON', Buffer.from('hello').toString('base64url')],
    ['wrong shape', Buffer.from(JSON.stringify({ a: 1 })).toString('base64url')],
    ['bad id', Buffer.from(JSON.stringify(['price', 1, 'x'])).toString('base64url')],
    [
      'injected key',
      Buffer.from(JSON.stringify(['price', '1; DROP TABLE x', randomUUID()])).toString('base64url'),
    ],
    ['unsafe integer', Buffer.from(JSON.stringify(['price', 2 ** 60, randomUUID()])).toString('base64url')],
  ])('rejects %s with LOCUS_BAD_CURSOR', (_name, text) => {
    expect(() => decodeCursor(text, 'price')).toThrow(expect.objectContaining({ code: 'LOCUS_BAD_CURSOR' }));
  });

  it('rejects a cursor issued for another ordering', () => {
    const text = encodeCursor({ sort: 'price', key: 1, id: randomUUID() });
    expect(() => decodeCursor(text, 'newest')).toThrow(/issued for sort "price"/);
  });
});

describe('rounding shared by every strategy', () => {
  it('rounds to 4 decimals, half away from zero, like PostgreSQL round(numeric, 4)', () => {
    expect(round(3.14159)).toBe(3.1416);
    expect(round(1.00005)).toBe(1.0001);
    expect(round(2.5, 0)).toBe(3);
    expect(round(-2.5, 0)).toBe(-3);
    expect(round(-0.00005)).toBe(-0.0001);
    expect(round(4)).toBe(4);
    expect(round(10 / 3)).toBe(3.3333);
    expect(roundOrNull(null)).toBeNull();
  });

  it('gives the same value for the same float whatever computed it', () => {
    const sum = 37;
    const n = 11;
    expect(round((10 * (412 / 123) + sum) / (10 + n))).toBe(round((10 * (412 / 123) + sum) / (10 + n)));
  });
});

describe('buckets and price bands (the Node side of date_trunc and width_bucket)', () => {
  it('truncates to UTC day, ISO week (Monday) and month', () => {
    const sunday = new Date('2026-06-14T23:59:59.999Z');
    expect(bucketStart(sunday, 'day').toISOString()).toBe('2026-06-14T00:00:00.000Z');
    expect(bucketStart(sunday, 'week').toISOString()).toBe('2026-06-08T00:00:00.000Z');
    expect(bucketStart(new Date('2026-06-08T00:00:00.000Z'), 'week').toISOString()).toBe(
      '2026-06-08T00:00:00.000Z',
    );
    expect(bucketStart(sunday, 'month').toISOString()).toBe('2026-06-01T00:00:00.000Z');
  });

  it('puts a price in the band of the edges at or below it', () => {
    const edges = [1000, 2500];
    expect([0, 999, 1000, 2499, 2500, 99_999].map((price) => priceBandOf(price, edges))).toEqual([
      0, 0, 1, 1, 2, 2,
    ]);
    expect(bandEdges(0, edges)).toEqual({ minPrice: null, maxPrice: 1000 });
    expect(bandEdges(2, edges)).toEqual({ minPrice: 2500, maxPrice: null });
  });
});

describe('deadline and failure classification', () => {
  it('takes the header, caps it, and refuses nonsense', () => {
    expect(deadlineFromHeader(undefined, 5_000, 60_000).totalMs).toBe(5_000);
    expect(deadlineFromHeader('250', 5_000, 60_000).totalMs).toBe(250);
    expect(deadlineFromHeader('999999', 5_000, 60_000).totalMs).toBe(60_000);
    expect(() => deadlineFromHeader('0', 5_000, 60_000)).toThrow(
      expect.objectContaining({ code: 'LOCUS_VALIDATION' }),
    );
  });

  it('retries replica recovery conflicts and dropped connections, not refusals or bad SQL', () => {
    const classify = databaseClassifier('LOCUS_REPLICA_UNAVAILABLE');
    const recoveryConflict = Object.assign(new Error('canceling statement due to conflict with recovery'), {
      code: '40001',
    });
    expect(classify.isRetryable(recoveryConflict)).toBe(true);
    expect(classify.isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    expect(classify.isRetryable(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(classify.isFailure(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(classify.isFailure(Object.assign(new Error('syntax'), { code: '42601' }))).toBe(false);
    expect(classify.isFailure(Object.assign(new Error('statement timeout'), { code: '57014' }))).toBe(true);
  });
});

describe('backend policy (retry, breaker, deadline)', () => {
  const options = { breakerFailures: 3, halfOpenAfterMs: 60_000, retries: 2, retryInitialDelayMs: 5 };

  it('retries a recovery conflict within the deadline and succeeds', async () => {
    const policy = new BackendPolicy('replica', options, databaseClassifier('LOCUS_REPLICA_UNAVAILABLE'));
    let attempts = 0;
    const value = await policy.execute(new Deadline(1_000), 'read', async () => {
      attempts += 1;
      if (attempts === 1) throw Object.assign(new Error('conflict with recovery'), { code: '40001' });
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(attempts).toBe(2);
  });

  it('opens after consecutive failures and then refuses without calling the backend', async () => {
    const policy = new BackendPolicy('replica', options, databaseClassifier('LOCUS_REPLICA_UNAVAILABLE'));
    let calls = 0;
    const refused = async () => {
      calls += 1;
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    };
    for (let i = 0; i < 3; i++) {
      await expect(policy.execute(new Deadline(1_000), 'read', refused)).rejects.toMatchObject({
        code: 'LOCUS_REPLICA_UNAVAILABLE',
      });
    }
    await expect(policy.execute(new Deadline(1_000), 'read', refused)).rejects.toMatchObject({
      code: 'LOCUS_CIRCUIT_OPEN',
      retryAfterSeconds: 60,
    });
    expect(calls).toBe(3);
  });

  it('bounds a slow call by the deadline', async () => {
    const policy = new BackendPolicy('catalog-api', options, databaseClassifier('LOCUS_BACKEND_UNAVAILABLE'));
    const started = performance.now();
    await expect(policy.execute(new Deadline(50), 'slow', () => sleep(1_000))).rejects.toMatchObject({
      code: 'LOCUS_DEADLINE_EXCEEDED',
    });
    expect(performance.now() - started).toBeLessThan(300);
  });
});
