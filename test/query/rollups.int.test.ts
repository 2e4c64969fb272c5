import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseAnalyticsPath } from '../../src/query/analytics.path.js';
import { NOW, startAnalyticsFixture, type AnalyticsFixture, type Dataset } from './query.fixtures.js';

const DAY = 86_400_000;
const midnight = (daysBeforeNow: number) =>
  new Date(Math.floor((NOW.getTime() - daysBeforeNow * DAY) / DAY) * DAY).toISOString();

/** Windows the rollups serve: whole days, and whole days with partial days at both edges. */
const MULTI_DAY_WINDOWS = [
  { from: midnight(120), to: midnight(3) },
  {
    from: new Date(NOW.getTime() - 61.3 * DAY).toISOString(),
    to: new Date(NOW.getTime() - 4.7 * DAY).toISOString(),
  },
];
/** A window inside one UTC day: no whole day to read from the rollups. */
const WITHIN_A_DAY = {
  from: `${midnight(10).slice(0, 10)}T02:00:00.000Z`,
  to: `${midnight(10).slice(0, 10)}T21:30:00.000Z`,
};

describe('the rollup path of the heavy queries (query service)', () => {
  let fixture: AnalyticsFixture;
  let data: Dataset;

  beforeAll(async () => {
    fixture = await startAnalyticsFixture('query-rollups-test', 20261204);
    ({ data } = fixture);
  });

  afterAll(() => fixture?.close());

  const get = (url: string) => fixture.service.app.inject({ method: 'GET', url });

  /** Every heavy query the rollups can answer, in the shapes the API offers. */
  function queries(window: { from: string; to: string }): string[] {
    const categoryId = data.categories[1]!.id;
    const productId = data.products[3]!.id;
    const w = `from=${window.from}&to=${window.to}`;
    return [
      `/analytics/top-rated?${w}&minReviews=2&limit=5`,
      `/analytics/top-rated?${w}&categoryId=${categoryId}&minReviews=1&limit=3&priorWeight=2.5`,
      `/analytics/rating-trend?${w}&bucket=day`,
      `/analytics/rating-trend?${w}&bucket=week&categoryId=${categoryId}`,
      `/analytics/rating-trend?${w}&bucket=month&productId=${productId}`,
      `/analytics/category-report?${w}`,
      `/analytics/category-report?${w}&categoryId=${categoryId}&priceEdges=500,5000`,
    ];
  }

  it('given a window of whole days, or of whole days with partial edges, when each query is asked by both paths, then the bodies are identical and auto takes the rollups', async () => {
    for (const window of MULTI_DAY_WINDOWS) {
      for (const url of queries(window)) {
        // when
        const raw = await get(`${url}&strategy=locality&path=raw`);
        const rollup = await get(`${url}&strategy=locality&path=rollup`);
        const auto = await get(`${url}&strategy=locality`);
        const serviceJoin = await get(`${url}&strategy=service-join&path=rollup`);

        // then
        expect(raw.statusCode, raw.body).toBe(200);
        expect(
          [raw.headers['locus-path'], rollup.headers['locus-path'], auto.headers['locus-path']],
          url,
        ).toEqual(['raw', 'rollup', 'rollup']);
        expect(rollup.json(), url).toEqual(raw.json());
        expect(auto.json(), url).toEqual(raw.json());
        // the path is the procedure's: the other strategies read rows and say none
        expect(serviceJoin.headers['locus-path'], url).toBeUndefined();
        expect(serviceJoin.json(), url).toEqual(raw.json());
      }
    }
    const report = (await get(`${queries(MULTI_DAY_WINDOWS[0]!)[5]}&strategy=locality`)).json<{
      categories: { reviewCount: number }[];
    }>();
    expect(report.categories.reduce((n, c) => n + c.reviewCount, 0)).toBeGreaterThan(500);
  });

  it('given a window inside one UTC day, when asked with auto, then the raw path answers, as the rollup path would', async () => {
    // given
    expect(chooseAnalyticsPath({ from: new Date(WITHIN_A_DAY.from), to: new Date(WITHIN_A_DAY.to) })).toBe(
      'raw',
    );
    for (const url of queries(WITHIN_A_DAY)) {
      // when
      const auto = await get(`${url}&strategy=locality`);
      const rollup = await get(`${url}&strategy=locality&path=rollup`);

      // then
      expect(auto.statusCode, auto.body).toBe(200);
      expect(auto.headers['locus-path'], url).toBe('raw');
      expect(rollup.json(), url).toEqual(auto.json());
    }
  });
});
