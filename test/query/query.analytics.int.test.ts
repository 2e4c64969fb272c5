import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { round } from '../../src/query/rounding.js';
import {
  NOW,
  startAnalyticsFixture,
  type AnalyticsFixture,
  type Dataset,
  type TestQueryService,
} from './query.fixtures.js';

const STRATEGIES = ['locality', 'service-join', 'composition'] as const;
const FROM = new Date(NOW.getTime() - 60 * 86_400_000).toISOString();
const TO = new Date(NOW.getTime() - 5 * 86_400_000).toISOString();

describe('query service analytics (heavy endpoints on the replica)', () => {
  let fixture: AnalyticsFixture;
  let data: Dataset;
  let service: TestQueryService;

  beforeAll(async () => {
    fixture = await startAnalyticsFixture('query-analytics-test', 20260615);
    ({ data, service } = fixture);
  });

  afterAll(() => fixture?.close());

  const get = (url: string) => service.app.inject({ method: 'GET', url });

  /** Reviews in [from, to) whose product exists, with that product — computed here from the inserted data. */
  function windowed(from: string, to: string) {
    const products = new Map(data.products.map((product) => [product.id, product]));
    return data.reviews
      .filter((review) => review.createdAt >= from && review.createdAt < to && products.has(review.productId))
      .map((review) => ({ review, product: products.get(review.productId)! }));
  }

  it('top-rated: given reviews in a window, when asked by locality, then it matches a Bayesian ranking computed from the inserted rows', async () => {
    const response = await get(
      `/analytics/top-rated?strategy=locality&from=${FROM}&to=${TO}&minReviews=5&limit=3&priorWeight=10`,
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['locus-strategy']).toBe('locality');
    expect(response.headers['locus-backend']).toBe('replica');
    expect(response.headers['locus-replica-lag-ms']).toMatch(/^\d+$/);

    const rows = windowed(FROM, TO);
    const mean = rows.reduce((sum, row) => sum + row.review.rating, 0) / rows.length;
    const categoryIds = [
      ...new Set(data.products.map((p) => p.categoryId).filter((id): id is string => id !== null)),
    ];
    const expected = categoryIds
      .sort()
      .map((categoryId) => {
        const perProduct = new Map<string, number[]>();
        for (const { review, product } of rows) {
          if (product.categoryId !== categoryId) continue;
          perProduct.set(product.id, [...(perProduct.get(product.id) ?? []), review.rating]);
        }
        const ranked = [...perProduct.entries()]
          .filter(([, ratings]) => ratings.length >= 5)
          .map(([productId, ratings]) => {
            const sum = ratings.reduce((a, b) => a + b, 0);
            return {
              productId,
              n: ratings.length,
              score: (10 * mean + sum) / (10 + ratings.length),
              avg: sum / ratings.length,
            };
          })
          .sort((a, b) => b.score - a.score || (a.productId < b.productId ? -1 : 1))
          .slice(0, 3);
        return { categoryId, ranked };
      })
      .filter((category) => category.ranked.length > 0);
    const body = response.json<{
      categories: {
        categoryId: string;
        categoryName: string;
        products: {
          productId: string;
          reviewCount: number;
          score: number;
          averageRating: number;
          rank: number;
        }[];
      }[];
    }>();
    expect(body.categories.map((category) => category.categoryId)).toEqual(
      expected.map((category) => category.categoryId),
    );
    for (const [index, category] of body.categories.entries()) {
      const want = expected[index]!;
      expect(category.categoryName).toBe(
        data.categories.find((c) => c.id === category.categoryId)?.name ?? null,
      );
      expect(category.products.map((p) => p.productId)).toEqual(want.ranked.map((p) => p.productId));
      expect(category.products.map((p) => p.reviewCount)).toEqual(want.ranked.map((p) => p.n));
      expect(category.products.map((p) => p.score)).toEqual(want.ranked.map((p) => round(p.score)));
      expect(category.products.map((p) => p.averageRating)).toEqual(want.ranked.map((p) => round(p.avg)));
      expect(category.products.map((p) => p.rank)).toEqual(want.ranked.map((_, rank) => rank + 1));
    }
  });

  it('rating-trend: given a category, when bucketed by week, then counts and averages match the inserted rows', async () => {
    const categoryId = data.categories[1]!.id;
    const response = await get(
      `/analytics/rating-trend?strategy=locality&categoryId=${categoryId}&bucket=week&from=${FROM}&to=${TO}`,
    );
    expect(response.statusCode, response.body).toBe(200);
    const buckets = new Map<string, number[]>();
    for (const { review, product } of windowed(FROM, TO)) {
      if (product.categoryId !== categoryId) continue;
      const date = new Date(review.createdAt);
      const monday =
        Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()) -
        ((date.getUTCDay() + 6) % 7) * 86_400_000;
      const key = new Date(monday).toISOString();
      buckets.set(key, [...(buckets.get(key) ?? []), review.rating]);
    }
    const expected = [...buckets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([bucketStart, ratings]) => ({
        bucketStart,
        reviewCount: ratings.length,
        averageRating: round(ratings.reduce((a, b) => a + b, 0) / ratings.length),
      }));
    expect(response.json<{ points: unknown[] }>().points).toEqual(expected);
  });

  it('category-report: given products and reviews, then product counts, review volume and distributions match the inserted rows', async () => {
    const response = await get(
      `/analytics/category-report?strategy=locality&from=${FROM}&to=${TO}&priceEdges=2500,7500`,
    );
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{
      categories: {
        categoryId: string;
        categoryName: string | null;
        productCount: number;
        reviewCount: number;
        ratingDistribution: number[];
        priceBands: { band: number; productCount: number; reviewCount: number }[];
      }[];
    }>();
    const categoryIds = [
      ...new Set(data.products.map((p) => p.categoryId).filter((id): id is string => id !== null)),
    ].sort();
    expect(body.categories.map((c) => c.categoryId)).toEqual(categoryIds);
    const rows = windowed(FROM, TO);
    for (const report of body.categories) {
      const products = data.products.filter((p) => p.categoryId === report.categoryId);
      const own = rows.filter((row) => row.product.categoryId === report.categoryId);
      expect(report.productCount).toBe(products.length);
      expect(report.reviewCount).toBe(own.length);
      expect(report.ratingDistribution).toEqual(
        [1, 2, 3, 4, 5].map((r) => own.filter((row) => row.review.rating === r).length),
      );
      const band = (price: number) => (price < 2500 ? 0 : price < 7500 ? 1 : 2);
      const expectedBands = [0, 1, 2]
        .map((b) => ({
          band: b,
          productCount: products.filter((p) => band(p.price.amount) === b).length,
          reviewCount: own.filter((row) => band(row.product.price.amount) === b).length,
        }))
        .filter((b) => b.productCount > 0);
      expect(
        report.priceBands.map(({ band: b, productCount, reviewCount }) => ({
          band: b,
          productCount,
          reviewCount,
        })),
      ).toEqual(expectedBands);
    }
    expect(body.categories.find((c) => c.categoryId === data.ghostCategoryIds[0])?.categoryName).toBeNull();
  });

  it('export: streams every windowed review with its product as NDJSON, orphans left out', async () => {
    const response = await get(`/analytics/export?strategy=locality&from=${FROM}&to=${TO}`);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toContain('application/x-ndjson');
    const lines = response.body
      .trim()
      .split('\n')
      .map(
        (line) => JSON.parse(line) as { reviewId: string; productName: string; sku: string; rating: number },
      );
    const expected = windowed(FROM, TO).sort((a, b) => (a.review.id < b.review.id ? -1 : 1));
    expect(lines.map((line) => line.reviewId)).toEqual(expected.map((row) => row.review.id));
    expect(lines.map((line) => line.productName)).toEqual(expected.map((row) => row.product.name));
    expect(lines.map((line) => line.rating)).toEqual(expected.map((row) => row.review.rating));
  });

  const cases = [
    ['top-rated', `/analytics/top-rated?from=${FROM}&to=${TO}&minReviews=3&limit=5`],
    [
      'top-rated in one category',
      `/analytics/top-rated?from=${FROM}&to=${TO}&minReviews=2&priorWeight=3.5&CATEGORY`,
    ],
    ['rating-trend by day (catalog)', `/analytics/rating-trend?from=${FROM}&to=${TO}&bucket=day`],
    ['rating-trend by month (product)', `/analytics/rating-trend?from=${FROM}&to=${TO}&bucket=month&PRODUCT`],
    ['category-report', `/analytics/category-report?from=${FROM}&to=${TO}`],
    ['export', `/analytics/export?from=${FROM}&to=${TO}`],
    ['top-rated with every default', '/analytics/top-rated?'],
    ['rating-trend with every default', '/analytics/rating-trend?'],
    ['category-report with every default', '/analytics/category-report?'],
    ['export with every default', '/analytics/export?'],
  ] as const;

  it.each(cases)('%s: locality, service-join and composition answer identically', async (_name, template) => {
    const url = template
      .replace('CATEGORY', `categoryId=${data.categories[2]!.id}`)
      .replace('PRODUCT', `productId=${data.products[3]!.id}`);
    const bodies: string[] = [];
    for (const strategy of STRATEGIES) {
      const response = await get(`${url}&strategy=${strategy}`);
      expect(response.statusCode, `${strategy}: ${response.body}`).toBe(200);
      expect(response.headers['locus-strategy']).toBe(strategy);
      bodies.push(response.body);
    }
    expect(bodies[0]!.length).toBeGreaterThan(50); // not trivially empty
    expect(bodies[1]).toBe(bodies[0]);
    expect(bodies[2]).toBe(bodies[0]);
  });

  // The export's side of the rule depends on the link: see strategy-router.int.test.ts.
  it('auto: picks locality for aggregations, and says why', async () => {
    for (const [path, strategy] of [
      ['/analytics/top-rated?minReviews=1&limit=1', 'locality'],
      ['/analytics/rating-trend?bucket=month', 'locality'],
    ] as const) {
      const response = await get(`${path}&from=${FROM}&to=${TO}`);
      expect(response.statusCode, response.body).toBe(200);
      expect(
        response.headers['locus-strategy'],
        `${path}: ${String(response.headers['locus-routing'])}`,
      ).toBe(strategy);
      expect(response.headers['locus-routing']).toMatch(/locality ~\d+ ms .*service-join ~\d+ ms .*pg_stats/);
    }
  });
});
