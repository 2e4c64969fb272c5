import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkReviewStores, type BulkReviewStores, type TestQueryService } from './query.fixtures.js';

/** Enough reviews, with bodies wide enough, that the bytes each strategy moves differ by megabytes. */
const REVIEWS = 20_000;
const BODY_BYTES = 300;

describe('strategy=auto weighs bytes and the link (real replica, pg_stats, measured or configured link)', () => {
  let stores: BulkReviewStores;
  let measured: TestQueryService;
  let datacenter: TestQueryService;
  let slow: TestQueryService;

  beforeAll(async () => {
    stores = await bulkReviewStores({
      applicationName: 'strategy-router-test',
      seed: 1717,
      dataset: { categoryCount: 2, perCategory: 5, reviews: 50 },
      bulkReviews: REVIEWS,
      bodyBytes: BODY_BYTES,
    });
    measured = await stores.service();
    datacenter = await stores.service({ link: { rttMs: 0.5, megabitsPerSecond: 1_000 } });
    slow = await stores.service({ link: { rttMs: 0.5, megabitsPerSecond: 8 } });
  }, 120_000);

  afterAll(async () => {
    await stores?.close();
  });

  const routed = async (service: TestQueryService, path: string) => {
    const response = await service.app.inject({
      method: 'GET',
      url: `${path}${path.includes('?') ? '&' : '?'}strategy=auto`,
      headers: { 'locus-deadline-ms': '30000' },
    });
    expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
    return { strategy: response.headers['locus-strategy'], why: String(response.headers['locus-routing']) };
  };

  it('given a rollup into as many buckets as reviews on a datacenter link, when routed, then locality: its narrow buckets move fewer bytes than the wide reviews', async () => {
    const { strategy, why } = await routed(datacenter, '/analytics/rollup?groups=10000000');
    expect(strategy, why).toBe('locality');
    expect(why).toMatch(/locality ~\d+ ms \(.* MB\), service-join ~\d+ ms \(.* MB\) over 0.5 ms RTT/);
    expect(why).toMatch(/row bytes review \d+, product \d+, result 28 \(pg_stats\); RTT configured/);
  });

  it('given the export over a slow link, when routed, then service-join: a procedure row repeats its product, so it moves more bytes', async () => {
    const { strategy, why } = await routed(slow, '/analytics/export');
    expect(strategy, why).toBe('service-join');
    const review = Number(/row bytes review (\d+)/.exec(why)?.[1]);
    const result = Number(/result (\d+)/.exec(why)?.[1]);
    // The review's wide body shows in pg_stats: the width is read, not guessed.
    expect(review).toBeGreaterThan(BODY_BYTES);
    expect(result).toBeGreaterThan(review);
  });

  it('given a small result over the same slow link, when routed, then locality', async () => {
    for (const path of ['/analytics/top-rated?minReviews=1&limit=3', '/analytics/rollup?groups=10']) {
      const { strategy, why } = await routed(slow, path);
      expect(strategy, `${path}: ${why}`).toBe('locality');
    }
  });

  it('given no link configured, when routed, then the link is measured against the replica and the decision says so', async () => {
    const { strategy, why } = await routed(measured, '/analytics/rollup?groups=1');
    expect(strategy, why).toBe('locality');
    expect(why).toMatch(/over [\d.]+ ms RTT, [\d.]+ MB\/s; row bytes .*RTT measured, throughput measured/);
  });
});
