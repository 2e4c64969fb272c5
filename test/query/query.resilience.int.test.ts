import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deadline } from '../../src/query/deadline.js';
import { createPool } from '../../src/shared/postgres.js';
import { createTestDatabase, uniqueName, withDatabase, type TestDatabase } from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';
import {
  makeDataset,
  replicaPoolWhenReady,
  seedViews,
  startFakeExportApi,
  startQueryService,
  waitForReplica,
  type Dataset,
  type FakeUpstream,
} from './query.fixtures.js';

const HEAVY = [
  '/analytics/top-rated?strategy=locality',
  '/analytics/top-rated?strategy=service-join',
  '/analytics/top-rated',
  '/analytics/rating-trend',
  '/analytics/category-report?strategy=locality',
  '/analytics/export?strategy=service-join',
];

/** A port nothing listens on: bound, then released. */
describe('query service resilience', () => {
  let db: TestDatabase;
  let primary: pg.Pool;
  let data: Dataset;
  let catalog: FakeUpstream;
  let reviews: FakeUpstream;

  beforeAll(async () => {
    db = await createTestDatabase('readmodel');
    primary = createPool(db.url, { applicationName: 'query-resilience-test', max: 2 });
    const replicaProbe = await replicaPoolWhenReady(db, 'query-resilience-test');
    data = makeDataset(99, { categoryCount: 2, perCategory: 5, reviews: 200 });
    await seedViews(primary, data);
    await waitForReplica(primary, replicaProbe);
    await replicaProbe.end();
    catalog = await startFakeExportApi({
      '/export/products': data.products,
      '/export/categories': data.categories,
    });
    reviews = await startFakeExportApi({ '/export/reviews': data.reviews });
  });

  afterAll(async () => {
    await catalog?.close();
    await reviews?.close();
    await primary?.end();
    await db?.drop();
  });

  /** Connections the query service's primary pool holds, seen by the primary server itself. */
  async function primaryConnections(applicationName: string): Promise<number> {
    const admin = new pg.Client({ connectionString: withDatabase(db.url, 'postgres') });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = $2',
        [applicationName, db.name],
      );
      return rows[0]!.n;
    } finally {
      await admin.end();
    }
  }

  it('replica unreachable: heavy endpoints answer 503 at once and the primary sees none of their queries; light reads fall back to it', async () => {
    const applicationName = uniqueName('q_primary');
    const service = await startQueryService({
      replicaUrl: `postgres://locus:locus@127.0.0.1:${await freePort()}/${db.name}`,
      primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
      primaryApplicationName: applicationName,
      catalogUrl: catalog.url,
      reviewsUrl: reviews.url,
    });
    try {
      for (const url of HEAVY) {
        const started = performance.now();
        const response = await service.app.inject({ method: 'GET', url });
        const elapsed = performance.now() - started;
        expect(response.statusCode, `${url}: ${response.body}`).toBe(503);
        expect(['LOCUS_REPLICA_UNAVAILABLE', 'LOCUS_CIRCUIT_OPEN']).toContain(
          response.json<{ code: string }>().code,
        );
        expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(elapsed, url).toBeLessThan(500);
      }
      // The primary pool never opened a connection: no heavy query (nor lag probe) went there.
      expect(await primaryConnections(applicationName)).toBe(0);

      // Control: a light read is allowed to fall back, and then the same check does see the pool.
      const product = data.products[0]!;
      const light = await service.app.inject({ method: 'GET', url: `/products/${product.id}` });
      expect(light.statusCode, light.body).toBe(200);
      expect(light.headers['locus-backend']).toBe('primary');
      expect(light.json()).toMatchObject({ id: product.id, name: product.name });
      expect(await primaryConnections(applicationName)).toBeGreaterThanOrEqual(1);
    } finally {
      await service.close();
    }
  });

  it('replica lagging beyond the bound: heavy endpoints 503 LOCUS_REPLICA_LAGGING, light reads from the primary', async () => {
    // A bound below any measurable lag (even 0 ms) stands in for a replica that fell behind.
    const service = await startQueryService({
      replicaUrl: db.replicaUrl,
      primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
      catalogUrl: catalog.url,
      reviewsUrl: reviews.url,
      maxReplicaLagMs: -1,
    });
    try {
      const heavy = await service.app.inject({
        method: 'GET',
        url: '/analytics/top-rated?strategy=locality',
      });
      expect(heavy.statusCode).toBe(503);
      expect(heavy.json()).toMatchObject({ code: 'LOCUS_REPLICA_LAGGING' });
      expect(heavy.headers['retry-after']).toBeDefined();
      const light = await service.app.inject({ method: 'GET', url: `/products/${data.products[1]!.id}` });
      expect(light.statusCode).toBe(200);
      expect(light.headers['locus-backend']).toBe('primary');
    } finally {
      await service.close();
    }
  });

  it('slow replica: the deadline bounds each call, repeated timeouts open the replica breaker, heavy requests then fail fast', async () => {
    const service = await startQueryService({
      replicaUrl: db.replicaUrl,
      primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
      catalogUrl: catalog.url,
      reviewsUrl: reviews.url,
      resilience: { breakerFailures: 3, halfOpenAfterMs: 60_000 },
    });
    try {
      // A test-only slow query through the service's own replica policy.
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await expect(
          service.store.inReplicaSnapshot(new Deadline(150), 'slow', (client) =>
            client.query('SELECT pg_sleep(2)'),
          ),
        ).rejects.toMatchObject({ code: 'LOCUS_DEADLINE_EXCEEDED' });
        expect(performance.now() - started).toBeLessThan(600);
      }
      const started = performance.now();
      const heavy = await service.app.inject({
        method: 'GET',
        url: '/analytics/rating-trend?strategy=locality',
      });
      expect(performance.now() - started).toBeLessThan(100);
      expect(heavy.statusCode).toBe(503);
      expect(heavy.json()).toMatchObject({ code: 'LOCUS_CIRCUIT_OPEN' });
      expect(heavy.headers['retry-after']).toBe('60');
      const light = await service.app.inject({ method: 'GET', url: `/products/${data.products[2]!.id}` });
      expect(light.statusCode).toBe(200);
      expect(light.headers['locus-backend']).toBe('primary');
    } finally {
      await service.close();
    }
  });

  it('slow upstream API: the deadline bounds the response, the breaker opens after repeated timeouts, then half-opens and recovers', async () => {
    const service = await startQueryService({
      replicaUrl: db.replicaUrl,
      primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
      catalogUrl: catalog.url,
      reviewsUrl: reviews.url,
      resilience: { breakerFailures: 3, halfOpenAfterMs: 1_000 },
      // The server's own deadline: a timeout of a deadline the client shortened would not count.
      settings: { defaultDeadlineMs: 200 },
    });
    const url = '/analytics/top-rated?strategy=composition&minReviews=1';
    try {
      catalog.delayMs = 2_000;
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const response = await service.app.inject({ method: 'GET', url });
        const elapsed = performance.now() - started;
        expect(response.statusCode, response.body).toBe(504);
        expect(response.json()).toMatchObject({ code: 'LOCUS_DEADLINE_EXCEEDED' });
        expect(elapsed).toBeGreaterThanOrEqual(190);
        expect(elapsed).toBeLessThan(600);
      }
      const hitsBefore = catalog.hits.get('/export/products') ?? 0;
      const started = performance.now();
      const open = await service.app.inject({ method: 'GET', url });
      expect(performance.now() - started).toBeLessThan(100);
      expect(open.statusCode).toBe(503);
      expect(open.json()).toMatchObject({ code: 'LOCUS_CIRCUIT_OPEN' });
      expect(catalog.hits.get('/export/products') ?? 0).toBe(hitsBefore); // the upstream was spared

      catalog.delayMs = 0;
      await sleep(1_100);
      const recovered = await service.app.inject({
        method: 'GET',
        url,
        headers: { 'locus-deadline-ms': '5000' },
      });
      expect(recovered.statusCode, recovered.body).toBe(200);
      expect(recovered.headers['locus-strategy']).toBe('composition');
    } finally {
      catalog.delayMs = 0;
      await service.close();
    }
  });

  it('read-your-writes with Locus-Allow-Primary: when the replica lacks the version, the primary that has it answers', async () => {
    // The service's "replica" is another database that never receives this write: a replica that has
    // not replayed it yet, for as long as the test needs.
    const behind = await createTestDatabase('readmodel');
    const service = await startQueryService({
      replicaUrl: behind.replicaUrl,
      primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
      catalogUrl: catalog.url,
      reviewsUrl: reviews.url,
      settings: { consistencyWaitMs: 300 },
    });
    try {
      const behindProbe = await replicaPoolWhenReady(behind, 'query-resilience-test');
      await behindProbe.end();
      const product = data.products[3]!;
      const token = `product:${product.id}:1`;
      const refused = await service.app.inject({
        method: 'GET',
        url: `/products/${product.id}`,
        headers: { 'locus-consistency-token': token },
      });
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ code: 'LOCUS_NOT_YET_CONSISTENT' });

      const started = performance.now();
      const allowed = await service.app.inject({
        method: 'GET',
        url: `/products/${product.id}`,
        headers: { 'locus-consistency-token': token, 'locus-allow-primary': 'true' },
      });
      expect(allowed.statusCode, allowed.body).toBe(200);
      expect(allowed.headers['locus-backend']).toBe('primary');
      expect(allowed.json()).toMatchObject({ id: product.id, name: product.name });
      expect(performance.now() - started).toBeGreaterThanOrEqual(290); // it waited for the replica first

      // Heavy endpoints never take that way out.
      const heavy = await service.app.inject({
        method: 'GET',
        url: '/analytics/top-rated?strategy=locality',
        headers: { 'locus-consistency-token': token, 'locus-allow-primary': 'true' },
      });
      expect(heavy.statusCode).toBe(503);
      expect(heavy.json()).toMatchObject({ code: 'LOCUS_NOT_YET_CONSISTENT' });
    } finally {
      await service.close();
      await behind.drop();
    }
  });

  it('upstream down: composition answers 503 LOCUS_BACKEND_UNAVAILABLE without touching the replica path', async () => {
    const service = await startQueryService({
      replicaUrl: db.replicaUrl,
      primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
      catalogUrl: `http://127.0.0.1:${await freePort()}`,
      reviewsUrl: reviews.url,
    });
    try {
      const response = await service.app.inject({
        method: 'GET',
        url: '/analytics/export?strategy=composition',
      });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json()).toMatchObject({ code: 'LOCUS_BACKEND_UNAVAILABLE' });
    } finally {
      await service.close();
    }
  });
});
