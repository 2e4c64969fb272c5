import { describe, expect, it } from 'vitest';
import { rollupBucketOf } from '../../src/query/analytics.aggregate.js';
import { chooseStrategy, LOCALITY_RATIO, type TableStats } from '../../src/query/strategy.router.js';

const stats: TableStats = { products: 20_000, reviews: 1_000_000, categories: 40 };

describe('rollup bucket of a review id', () => {
  it('is the id’s last 32 bits modulo the groups, like the SQL cast of its last 8 hex digits', () => {
    expect(rollupBucketOf('00000000-0000-4000-8000-0000000000ff', 10)).toBe(255 % 10);
    expect(rollupBucketOf('00000000-0000-4000-8000-0000ffffffff', 1_000_000)).toBe(4_294_967_295 % 1_000_000);
    expect(rollupBucketOf('ffffffff-ffff-4fff-bfff-ffff00000000', 7)).toBe(0);
    expect(rollupBucketOf('01234567-89ab-4cde-8f01-234567890abc', 1)).toBe(0);
  });

  it('stays below the groups, for any id', () => {
    for (const groups of [1, 2, 3, 1000, 10_000_000]) {
      const bucket = rollupBucketOf(crypto.randomUUID(), groups);
      expect(bucket).toBeGreaterThanOrEqual(0);
      expect(bucket).toBeLessThan(groups);
    }
  });
});

describe('auto strategy router: rollup', () => {
  it('expects min(groups, reviews in the window) rows', () => {
    expect(
      chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: 100 }).expectedResultRows,
    ).toBe(100);
    expect(
      chooseStrategy({ query: 'rollup', stats, windowFraction: 0.5, groups: 10_000_000 }).expectedResultRows,
    ).toBe(500_000);
  });

  it('picks locality when the buckets are few, service-join when every review is its own bucket', () => {
    expect(chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: 1 }).strategy).toBe(
      'locality',
    );
    expect(chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: 10_000 }).strategy).toBe(
      'locality',
    );
    expect(chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: 1_000_000 }).strategy).toBe(
      'service-join',
    );
  });

  it('switches at the ratio of rows read to groups', () => {
    const rowsRead = stats.reviews + stats.products;
    const atRatio = Math.floor(rowsRead / LOCALITY_RATIO);
    expect(chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: atRatio }).strategy).toBe(
      'locality',
    );
    expect(chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: atRatio + 1 }).strategy).toBe(
      'service-join',
    );
  });

  it('an empty window expects one row and never divides by zero', () => {
    const decision = chooseStrategy({ query: 'rollup', stats, windowFraction: 0, groups: 50 });
    expect(decision.expectedResultRows).toBe(1);
    expect(decision.strategy).toBe('locality'); // the products are still read by a service-join
  });
});
