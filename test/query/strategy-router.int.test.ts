import type pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BytesMeter } from '../../src/query/bytes-meter.js';
import { RoutingInputsSource } from '../../src/query/routing.inputs.js';
import { bulkReviewStores, NOW, type BulkReviewStores, type TestQueryService } from './query.fixtures.js';

/** Enough reviews, with bodies wide enough, that the bytes each strategy moves differ by megabytes. */
const REVIEWS = 20_000;
const BODY_BYTES = 300;

describe('strategy=auto weighs bytes and the link (real replica, pg_stats, measured or configured link)', () => {
  let stores: BulkReviewStores;
  let measured: TestQueryService;
  let datacenter: TestQueryService;
  let slow: TestQueryService;
  let region: TestQueryService;

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
    region = await stores.service({ link: { rttMs: 20, megabitsPerSecond: 100 } });
  }, 120_000);

  afterAll(async () => {
    await stores?.close();
  });

  const routed = async (service: TestQueryService, path: string, strategy = 'auto') => {
    const response = await service.app.inject({
      method: 'GET',
      url: `${path}${path.includes('?') ? '&' : '?'}strategy=${strategy}`,
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

  it('given a measured link, when the inputs are refreshed again soon, then the statistics are read again but the link is not probed again', async () => {
    let now = 0;
    const inputs = new RoutingInputsSource({
      store: measured.store,
      link: { rttMs: 'measure', megabitsPerSecond: 'measure' },
      refreshMs: 1_000,
      now: () => now,
    });
    const probes = countStatements([measured.replica], (sql) => sql.includes('repeat('));
    const reads = countStatements([measured.replica], (sql) => sql.includes('pg_stats'));
    await inputs.refresh();
    const first = { probes: probes.count, reads: reads.count };
    expect(first.probes).toBeGreaterThan(0);
    now = 2_000; // past refreshMs, well inside the probe's own interval
    await inputs.refresh();
    expect(reads.count).toBeGreaterThan(first.reads);
    expect(probes.count).toBe(first.probes);
    now = 20_000; // ten refreshes later: the link is measured again
    await inputs.refresh();
    expect(probes.count).toBeGreaterThan(first.probes);
  });

  it('given a window holding a tenth of the reviews, when routed, then the estimate comes from the histogram and a tiny window exports by locality', async () => {
    // The bulk reviews are spread evenly over the 2,000 hours before NOW.
    const hoursAgo = (hours: number) => new Date(NOW.getTime() - hours * 3_600_000).toISOString();
    const tenth = await routed(region, `/analytics/export?from=${hoursAgo(200)}&to=${NOW.toISOString()}`);
    const inWindow = Number(/~(\d+) reviews in window/.exec(tenth.why)?.[1]);
    expect(inWindow, tenth.why).toBeGreaterThan(REVIEWS * 0.08);
    expect(inWindow, tenth.why).toBeLessThan(REVIEWS * 0.12);
    const all = await routed(region, '/analytics/export');
    expect(all.strategy, all.why).toBe('service-join');
    // A few reviews: one round trip for the procedure against several for service-join.
    const tiny = await routed(region, `/analytics/export?from=${hoursAgo(2)}&to=${NOW.toISOString()}`);
    expect(tiny.strategy, tiny.why).toBe('locality');
  });

  it('given warm routing inputs, when auto answers, then it runs exactly the statements locality runs: no routing round trip', async () => {
    const service = await stores.service({ link: { rttMs: 0.5, megabitsPerSecond: 1_000 } });
    const counter = countStatements([service.replica, service.primary]);
    const path = '/analytics/top-rated?minReviews=1&limit=3';
    await routed(service, path); // the first request reads the routing inputs
    const perRequest = { auto: [] as number[], locality: [] as number[] };
    for (let round = 0; round < 3; round++) {
      for (const strategy of ['auto', 'locality'] as const) {
        const before = counter.count;
        const answer = await routed(service, path, strategy);
        expect(answer.strategy).toBe('locality');
        perRequest[strategy].push(counter.count - before);
      }
    }
    // The fewest per request: a freshness reading cached or not may differ between two requests.
    expect(Math.min(...perRequest.auto), JSON.stringify(perRequest)).toBe(Math.min(...perRequest.locality));
  });
});

describe('the widths the rule weighs are the bytes the strategies move', () => {
  let stores: BulkReviewStores;

  beforeAll(async () => {
    stores = await bulkReviewStores({
      applicationName: 'strategy-router-widths-test',
      seed: 1718,
      dataset: { categoryCount: 2, perCategory: 5, reviews: 50 },
      bulkReviews: REVIEWS,
      bodyBytes: BODY_BYTES,
    });
  }, 120_000);

  afterAll(async () => {
    await stores?.close();
  });

  it('given the export by each strategy, when the replica bytes are metered, then each is within 10% of the width the rule weighs', async () => {
    const service = await stores.service({ link: { rttMs: 0.5, megabitsPerSecond: 1_000 } });
    const meter = new BytesMeter(new Registry());
    meter.meterPool(service.replica, 'replica');
    const exported = async (strategy: string) => {
      const before = meter.total('replica');
      const response = await service.app.inject({
        method: 'GET',
        url: `/analytics/export?strategy=${strategy}`,
        headers: { 'locus-deadline-ms': '30000' },
      });
      expect(response.statusCode).toBe(200);
      return { bytes: meter.total('replica') - before, why: String(response.headers['locus-routing']) };
    };
    const { why } = await exported('auto');
    const reviews = Number(/~(\d+) reviews in window/.exec(why)?.[1]);
    const review = Number(/row bytes review (\d+)/.exec(why)?.[1]);
    const product = Number(/product (\d+)/.exec(why)?.[1]);
    const result = Number(/result (\d+)/.exec(why)?.[1]);
    const locality = await exported('locality');
    const serviceJoin = await exported('service-join');
    const measured = `${why}; locality ${locality.bytes} B, service-join ${serviceJoin.bytes} B for ~${reviews} reviews`;
    expect(locality.bytes / (reviews * result), measured).toBeGreaterThan(0.9);
    expect(locality.bytes / (reviews * result), measured).toBeLessThan(1.1);
    const products = 10;
    expect(serviceJoin.bytes / (reviews * review + products * product), measured).toBeGreaterThan(0.9);
    expect(serviceJoin.bytes / (reviews * review + products * product), measured).toBeLessThan(1.1);
  });
});

/** Counts the statements (those `matches` keeps) sent through the pools' clients, whoever checks them out. */
function countStatements(
  pools: pg.Pool[],
  matches: (sql: string) => boolean = () => true,
): { readonly count: number } {
  const counter = { count: 0 };
  const counted = new WeakSet<pg.PoolClient>();
  for (const pool of pools) {
    pool.on('acquire', (client) => {
      if (counted.has(client)) return;
      counted.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        const first = args[0];
        const sql =
          typeof first === 'string' ? first : String((first as { text?: string } | null)?.text ?? '');
        if (matches(sql)) counter.count++;
        return query(...args);
      };
    });
  }
  return counter;
}
