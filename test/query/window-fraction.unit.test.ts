import { describe, expect, it } from 'vitest';
import { rowEstimatesFor, type ReplicaStatistics } from '../../src/query/routing.statistics.js';
import { windowFraction, type ColumnHistogram } from '../../src/query/window-fraction.js';

const DAY = 86_400_000;
const even: ColumnHistogram = { nullFraction: 0, mostCommon: [], bounds: [0, 10, 20, 30, 40] };

describe('the window fraction from the created_at histogram', () => {
  it('given whole buckets, when the window covers them, then their share', () => {
    expect(windowFraction(even, { from: 0, to: 40 })).toBe(1);
    expect(windowFraction(even, { from: 10, to: 30 })).toBe(0.5);
  });

  it('given partial buckets, when the window cuts them, then the share is interpolated inside them', () => {
    expect(windowFraction(even, { from: 5, to: 15 })).toBeCloseTo(0.25);
    expect(windowFraction({ ...even, bounds: [0, 10, 100] }, { from: 10, to: 55 })).toBeCloseTo(0.25);
  });

  it('given a window outside the histogram or empty, when estimated, then it is clamped to 0..1', () => {
    expect(windowFraction(even, { from: -100, to: 0 })).toBe(0);
    expect(windowFraction(even, { from: 50, to: 90 })).toBe(0);
    expect(windowFraction(even, { from: -1e12, to: 1e12 })).toBe(1);
    expect(windowFraction(even, { from: 20, to: 10 })).toBe(0);
  });

  it('given most common values and nulls, when estimated, then common values inside count whole and the histogram shares the rest', () => {
    const histogram: ColumnHistogram = {
      nullFraction: 0.1,
      mostCommon: [
        { value: 5, frequency: 0.2 },
        { value: 35, frequency: 0.3 },
      ],
      bounds: [0, 10, 20, 30, 40],
    };
    // 0.2 (the common value 5) + 0.4 of the remaining non-null rows × half the histogram.
    expect(windowFraction(histogram, { from: 0, to: 20 })).toBeCloseTo(0.2 + 0.4 * 0.5);
  });

  it('given no histogram, when estimated, then the non-common rows all count as inside', () => {
    expect(windowFraction({ nullFraction: 0, mostCommon: [], bounds: [] }, { from: 0, to: 1 })).toBe(1);
  });
});

describe('row estimates of one request', () => {
  // 100 days of reviews, evenly spread; one rollup row per product and day, per category and day.
  const statistics: ReplicaStatistics = {
    rows: { products: 100, reviews: 1_000_000, categories: 10, productDays: 10_000, categoryDays: 1_000 },
    createdAt: { nullFraction: 0, mostCommon: [], bounds: Array.from({ length: 101 }, (_, i) => i * DAY) },
  };
  const window = (from: number, to: number) => ({ from: new Date(from), to: new Date(to) });

  it('given a window of ten whole days, when top-rated takes the rollup path, then it reads their rollup rows, not their reviews', () => {
    const estimates = rowEstimatesFor(statistics, 'top-rated', window(0, 10 * DAY));
    expect(estimates.windowFraction).toBeCloseTo(0.1);
    expect(estimates.localityRowsRead).toBe(1_000 + 100);
    expect(estimates.note).toMatch(/~100000 reviews in window \(created_at histogram\); rollup path/);
  });

  it('given partial days at the edges, when the rollup path runs, then their reviews are read besides the rollup rows', () => {
    const estimates = rowEstimatesFor(statistics, 'category-report', window(DAY / 2, 3 * DAY + DAY / 2));
    // Days 1 and 2 whole (category and product rollups), half of day 0 and half of day 3 raw.
    expect(estimates.localityRowsRead).toBe(2 * (100 + 10) + 10_000 + 100);
  });

  it('given the raw path, a window inside one day, or a query without rollups, when estimated, then the procedure reads the reviews', () => {
    expect(
      rowEstimatesFor(statistics, 'top-rated', { ...window(0, 10 * DAY), path: 'raw' }).localityRowsRead,
    ).toBeUndefined();
    expect(
      rowEstimatesFor(statistics, 'top-rated', window(DAY / 4, DAY / 2)).localityRowsRead,
    ).toBeUndefined();
    expect(rowEstimatesFor(statistics, 'export', window(0, 10 * DAY)).localityRowsRead).toBeUndefined();
  });

  it('given no histogram yet, when estimated, then all reviews count and the note says so', () => {
    const estimates = rowEstimatesFor({ ...statistics, createdAt: null }, 'rollup', window(0, DAY));
    expect(estimates.windowFraction).toBe(1);
    expect(estimates.note).toMatch(/no histogram/);
  });
});
