import { setTimeout as sleep } from 'node:timers/promises';
import { CircuitState } from 'cockatiel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compositionOf } from '../../src/query/composition.setting.js';
import { loadConfig } from '../../src/shared/config.js';
import { bulkReviewStores, startQueryService, type BulkReviewStores } from './query.fixtures.js';

/** Enough reviews that one rollup over them takes far longer than the short timeouts below. */
const BULK_REVIEWS = 300_000;
const HEAVY = '/analytics/rollup?strategy=locality&groups=1000';

describe('no caller exhausts the query service for others', () => {
  let stores: BulkReviewStores;

  beforeAll(async () => {
    stores = await bulkReviewStores({
      applicationName: 'query-fair-use-test',
      seed: 4242,
      dataset: { categoryCount: 2, perCategory: 5, reviews: 50 },
      bulkReviews: BULK_REVIEWS,
    });
  }, 120_000);

  afterAll(async () => {
    await stores?.close();
  });

  const service = (options: Partial<Parameters<typeof startQueryService>[0]> = {}) => stores.service(options);

  it('a burst of timeouts of a client’s own short deadline leaves the replica breaker closed and others served', async () => {
    const { app, store } = await service({ resilience: { breakerFailures: 3 } });
    const codes: number[] = [];
    const bodies: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await app.inject({
        method: 'GET',
        url: HEAVY,
        headers: { 'locus-deadline-ms': String(1 + (i % 3) * 10) },
        remoteAddress: '127.0.0.30',
      });
      codes.push(response.statusCode);
      if (response.statusCode !== 504) bodies.push(response.body);
    }
    // Each one ran out of its own time (504), none was refused by an open breaker (503).
    expect(codes, bodies.join('\n')).toEqual(Array.from({ length: 10 }, () => 504));
    expect(store.replicaPolicy.breaker.state).toBe(CircuitState.Closed);
    const other = await app.inject({ method: 'GET', url: HEAVY, remoteAddress: '127.0.0.31' });
    expect(other.statusCode, other.body).toBe(200);
  });

  it('a timeout of the server’s own statement limit still counts: the breaker opens', async () => {
    const { app, store } = await service({
      statementTimeoutMs: 20,
      resilience: { breakerFailures: 3, halfOpenAfterMs: 500 },
    });
    const started = performance.now();
    // A client asking for a whole minute does not lengthen the server's 20 ms statement limit.
    const first = await app.inject({ method: 'GET', url: HEAVY, headers: { 'locus-deadline-ms': '60000' } });
    expect(first.statusCode, first.body).toBe(504);
    expect(performance.now() - started).toBeLessThan(3_000);
    for (let i = 0; i < 2; i++) {
      expect((await app.inject({ method: 'GET', url: HEAVY })).statusCode).toBe(504);
    }
    expect(store.replicaPolicy.breaker.state).toBe(CircuitState.Open);
    const refused = await app.inject({ method: 'GET', url: HEAVY });
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.json<{ code: string }>().code).toBe('LOCUS_CIRCUIT_OPEN');
    // Half-open: a client's own short deadline is not let in as the probe (its timeout would close
    // the breaker for everyone); the breaker waits for a probe with the server's deadline.
    await sleep(600);
    const short = await app.inject({ method: 'GET', url: HEAVY, headers: { 'locus-deadline-ms': '30' } });
    expect(short.statusCode, short.body).toBe(503);
    expect(store.replicaPolicy.breaker.state).not.toBe(CircuitState.Closed);
  });

  it('strategy=composition is refused by default with 403 LOCUS_COMPOSITION_DISABLED; other strategies answer', async () => {
    const byDefault = compositionOf(loadConfig(['LOCUS_QUERY_COMPOSITION'], {}));
    expect(byDefault).toBe(false);
    const { app } = await service({ compositionEnabled: byDefault });
    for (const url of [
      '/analytics/top-rated?strategy=composition',
      '/analytics/export?strategy=composition',
      '/analytics/rollup?groups=5&strategy=composition',
    ]) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(403);
      const body = response.json<{ code: string; details: { field: string }[] }>();
      expect(body.code).toBe('LOCUS_COMPOSITION_DISABLED');
      expect(body.details[0]?.field).toBe('querystring/strategy');
    }
    expect(stores.upstreams.reviews.hits.get('/export/reviews') ?? 0).toBe(0);
    const auto = await app.inject({ method: 'GET', url: '/analytics/top-rated' });
    expect(auto.statusCode, auto.body).toBe(200);
    const document = (await app.inject({ method: 'GET', url: '/documentation/json' })).json<{
      paths: Record<string, { get: { responses: Record<string, unknown> } }>;
    }>();
    expect(document.paths['/analytics/top-rated']?.get.responses['403']).toBeDefined();
  });
});
