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

interface RollupResponse {
  groups: number;
  buckets: { bucket: number; reviewCount: number; averageRating: number }[];
}

describe('query service rollup (the result-to-input ratio sweep)', () => {
  let fixture: AnalyticsFixture;
  let data: Dataset;
  let service: TestQueryService;

  beforeAll(async () => {
    fixture = await startAnalyticsFixture('query-rollup-test', 20261125, { orphansInReviewsApi: true });
    ({ data, service } = fixture);
  });

  afterAll(() => fixture?.close());

  const get = (url: string) => service.app.inject({ method: 'GET', url });

  /**
   * The expected rollup, computed here from the inserted rows with BigInt arithmetic on the id's
   * last 32 bits (independent of the service's parseInt), orphans and out-of-window reviews left out.
   */
  function expectedRollup(groups: number) {
    const products = new Set(data.products.map((product) => product.id));
    const buckets = new Map<number, number[]>();
    for (const review of [...data.reviews, ...data.orphanReviews]) {
      if (review.createdAt < FROM || review.createdAt >= TO || !products.has(review.productId)) continue;
      const bucket = Number(BigInt(`0x${review.id.replace(/-/g, '').slice(24)}`) % BigInt(groups));
      buckets.set(bucket, [...(buckets.get(bucket) ?? []), review.rating]);
    }
    return [...buckets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([bucket, ratings]) => ({
        bucket,
        reviewCount: ratings.length,
        averageRating: round(ratings.reduce((a, b) => a + b, 0) / ratings.length),
      }));
  }

  it.each([1, 7, 100])(
    'given reviews in a window, when rolled up into %i groups by locality, then counts and averages match the inserted rows',
    async (groups) => {
      const response = await get(
        `/analytics/rollup?strategy=locality&groups=${groups}&from=${FROM}&to=${TO}`,
      );
      expect(response.statusCode, response.body).toBe(200);
      expect(response.headers['locus-strategy']).toBe('locality');
      expect(response.headers['locus-backend']).toBe('replica');
      const body = response.json<RollupResponse>();
      expect(body.groups).toBe(groups);
      const expected = expectedRollup(groups);
      // Equal to the independent computation; with random ids some buckets may be empty, so the
      // count of buckets is at most min(groups, reviews), not exactly that.
      expect(body.buckets).toEqual(expected);
    },
  );

  it('given more groups than reviews, then every windowed review is a bucket of its own (result = input)', async () => {
    const response = await get(`/analytics/rollup?strategy=locality&groups=10000000&from=${FROM}&to=${TO}`);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<RollupResponse>();
    const windowedReviews = expectedRollup(1)[0]!.reviewCount;
    expect(body.buckets.reduce((n, b) => n + b.reviewCount, 0)).toBe(windowedReviews);
    expect(body.buckets.length).toBeGreaterThan(windowedReviews * 0.99); // 32-bit hashes rarely collide
    expect(body.buckets).toEqual(expectedRollup(10_000_000));
  });

  it.each([1, 3, 64, 5_000, 10_000_000])(
    'rollup into %i groups: locality, service-join and composition answer identically',
    async (groups) => {
      const bodies: string[] = [];
      for (const strategy of STRATEGIES) {
        const response = await get(
          `/analytics/rollup?strategy=${strategy}&groups=${groups}&from=${FROM}&to=${TO}`,
        );
        expect(response.statusCode, `${strategy}: ${response.body}`).toBe(200);
        expect(response.headers['locus-strategy']).toBe(strategy);
        bodies.push(response.body);
      }
      expect(bucketCount(bodies[0]!)).toBeGreaterThan(0); // not trivially empty
      expect(bodies[1]).toBe(bodies[0]);
      expect(bodies[2]).toBe(bodies[0]);
    },
  );

  it('rollup with the default window: every strategy answers identically', async () => {
    const bodies: string[] = [];
    for (const strategy of STRATEGIES) {
      const response = await get(`/analytics/rollup?strategy=${strategy}&groups=10`);
      expect(response.statusCode, `${strategy}: ${response.body}`).toBe(200);
      bodies.push(response.body);
    }
    expect(bucketCount(bodies[0]!)).toBeGreaterThan(0);
    expect(bodies[1]).toBe(bodies[0]);
    expect(bodies[2]).toBe(bodies[0]);
  });

  it.each(['groups=0', 'groups=10000001', 'groups=2.5', 'groups=many', ''])(
    'rejects %s with 400 naming groups',
    async (groups) => {
      const response = await get(`/analytics/rollup?strategy=locality&${groups}`);
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json<{ code: string; message: string }>().code).toBe('LOCUS_VALIDATION');
      expect(response.body).toMatch(/groups/);
    },
  );

  // One group per review is a result as long as its input, but its rows are narrow: the bytes decide.
  it('auto: few groups or one group per review → locality (narrow buckets move fewer bytes than reviews)', async () => {
    for (const [groups, strategy] of [
      [1, 'locality'],
      [10, 'locality'],
      [10_000_000, 'locality'],
    ] as const) {
      const response = await get(`/analytics/rollup?groups=${groups}&from=${FROM}&to=${TO}`);
      expect(response.statusCode, response.body).toBe(200);
      expect(
        response.headers['locus-strategy'],
        `${groups}: ${String(response.headers['locus-routing'])}`,
      ).toBe(strategy);
      expect(response.headers['locus-routing']).toMatch(
        /locality ~\d+ ms .*service-join ~\d+ ms .*result 28/,
      );
    }
  });
});

function bucketCount(body: string): number {
  return (JSON.parse(body) as RollupResponse).buckets.length;
}
