import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPool } from '../../src/shared/postgres.js';
import { createTestDatabase, type TestDatabase } from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';
import {
  makeDataset,
  seedViews,
  startFakeExportApi,
  startQueryService,
  type Dataset,
  type FakeUpstream,
  type TestQueryService,
} from '../query/query.fixtures.js';
import { standbyBinaries, startPrivateStandby, type PrivateStandby } from './private-standby.js';

/** Heavy endpoints that read the replica (composition reads the owners' APIs instead). */
const HEAVY = [
  '/analytics/top-rated',
  '/analytics/top-rated?strategy=service-join',
  '/analytics/rating-trend?strategy=locality',
  '/analytics/category-report?strategy=locality',
  '/analytics/export?strategy=locality',
];

const primaryUrl = process.env.LOCUS_READ_ADMIN_URL ?? process.env.LOCUS_READ_DB_URL ?? '';
const binaries = primaryUrl ? await standbyBinaries(primaryUrl) : { missing: 'LOCUS_READ_ADMIN_URL unset' };
const bin = 'bin' in binaries ? binaries.bin : undefined;

/**
 * What the replica really is decides whether heavy endpoints may use it and what light reads say
 * about their staleness. The replica here is this file's own standby (pg_basebackup of the read
 * primary), so it can be disconnected, paused, promoted and stopped while every other test keeps the
 * shared replica. Its cases run in order: each leaves the standby as the next one expects.
 */
describe.skipIf(!bin)(
  `query service over a replica that is not what it seems (${'missing' in binaries ? binaries.missing : 'private standby'})`,
  () => {
    let db: TestDatabase;
    let primary: pg.Pool;
    let data: Dataset;
    let catalog: FakeUpstream;
    let reviews: FakeUpstream;
    let standby: PrivateStandby | undefined;
    const services: TestQueryService[] = [];

    beforeAll(async () => {
      db = await createTestDatabase('readmodel');
      primary = createPool(db.url, { applicationName: 'replica-freshness-test', max: 2 });
      data = makeDataset(14, { categoryCount: 2, perCategory: 5, reviews: 100 });
      await seedViews(primary, data);
      const started = performance.now();
      // Its URLs log in as the query role, as the query service does on the real replica.
      standby = await startPrivateStandby(db.urlFor('LOCUS_QUERY_DB_URL'), bin!);
      // A commit for it to replay: a standby that has replayed none since it started cannot tell its lag.
      await primary.query('SELECT txid_current()');
      await standby.catchUp();
      console.log(`private standby up in ${Math.round(performance.now() - started)} ms`);
      catalog = await startFakeExportApi({
        '/export/products': data.products,
        '/export/categories': data.categories,
      });
      reviews = await startFakeExportApi({ '/export/reviews': data.reviews });
    });

    afterAll(async () => {
      await Promise.all(services.map((service) => service.close().catch(() => undefined)));
      await standby?.destroy();
      await catalog?.close();
      await reviews?.close();
      await primary?.end();
      await db?.drop();
    });

    async function serviceOver(
      replicaUrl: string,
      options: { primaryUrl?: string; maxReplicaLagMs?: number } = {},
    ) {
      const service = await startQueryService({
        replicaUrl,
        primaryUrl: options.primaryUrl ?? db.urlFor('LOCUS_QUERY_DB_URL'),
        catalogUrl: catalog.url,
        reviewsUrl: reviews.url,
        ...(options.maxReplicaLagMs !== undefined && { maxReplicaLagMs: options.maxReplicaLagMs }),
      });
      services.push(service);
      return service;
    }

    async function expectHeavyRefused(service: TestQueryService, code: string | RegExp, reason: RegExp) {
      for (const url of HEAVY) {
        const response = await service.app.inject({ method: 'GET', url });
        expect(
          response.statusCode,
          `${url}: ${JSON.stringify(response.headers)} ${response.body.slice(0, 200)}`,
        ).toBe(503);
        const expectedCode: unknown = typeof code === 'string' ? code : expect.stringMatching(code);
        expect(response.json(), url).toMatchObject({ code: expectedCode });
        expect(response.json<{ message: string }>().message, url).toMatch(reason);
        expect(Number(response.headers['retry-after']), url).toBeGreaterThanOrEqual(1);
      }
    }

    async function lightRead(service: TestQueryService, index = 0) {
      const product = data.products[index]!;
      const response = await service.app.inject({ method: 'GET', url: `/products/${product.id}` });
      expect(response.statusCode, response.body).toBe(200);
      return response;
    }

    /** Renames a product on the read primary, as the projector would: the replica must show it to be current. */
    async function renameOnPrimary(index: number, name: string) {
      await primary.query('UPDATE product_summary SET name = $2 WHERE id = $1', [
        data.products[index]!.id,
        name,
      ]);
    }

    it('the replica URL pointed at the read primary: heavy endpoints 503, light reads say the primary answered', async () => {
      const service = await serviceOver(db.url);
      await expectHeavyRefused(service, 'LOCUS_REPLICA_UNAVAILABLE', /not in recovery/);
      const light = await lightRead(service);
      expect(light.headers['locus-backend']).toBe('primary');
      expect(light.headers['locus-replica-status']).toBe('not-in-recovery');
      expect(light.headers['locus-staleness']).toBe('none');
      expect(light.headers['locus-replica-lag-ms']).toBeUndefined();
    });

    it('a streaming standby: heavy endpoints answer from it, light reads carry its measured lag', async () => {
      const service = await serviceOver(standby!.url(db.name));
      for (const url of HEAVY) {
        const response = await service.app.inject({ method: 'GET', url });
        expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
      }
      const light = await lightRead(service);
      expect(light.headers['locus-backend']).toBe('replica');
      expect(light.headers['locus-replica-status']).toBe('streaming');
      expect(light.headers['locus-staleness']).toBe('measured');
      expect(light.headers['locus-replica-lag-ms']).toMatch(/^\d+$/);
    });

    it('the standby behind the bound (replay paused): heavy endpoints 503 LOCUS_REPLICA_LAGGING, light reads from the primary', async () => {
      const service = await serviceOver(standby!.url(db.name), { maxReplicaLagMs: 300 });
      await standby!.sql('SELECT pg_wal_replay_pause()');
      try {
        await renameOnPrimary(1, 'renamed while replay is paused');
        const primaryAt = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))
          .rows[0];
        // The standby has really stopped short of the rename: paused, and behind the primary.
        await vi.waitFor(
          async () => {
            const [state] = await standby!.sql<{ paused: string; behind: boolean }>(
              `SELECT pg_get_wal_replay_pause_state() AS paused,
                      pg_last_wal_replay_lsn() < $1::pg_lsn AS behind`,
              [primaryAt!.lsn],
            );
            expect(state).toEqual({ paused: 'paused', behind: true });
          },
          { timeout: 10_000, interval: 200 },
        );
        // Past the bound the lag shows; on a loaded machine the pause and the probe cache take a while.
        // Lagging past the bound; or, when it has replayed no commit since it started, a lag that
        // cannot be known: refused either way, never served as fresh.
        await vi.waitFor(
          () => expectHeavyRefused(service, /^LOCUS_REPLICA_(LAGGING|UNAVAILABLE)$/, /behind/),
          {
            timeout: 10_000,
            interval: 300,
          },
        );
        const light = await lightRead(service, 1);
        expect(light.headers['locus-backend']).toBe('primary');
        expect(light.json()).toMatchObject({ name: 'renamed while replay is paused' });
      } finally {
        await standby!.sql('SELECT pg_wal_replay_resume()');
      }
      await standby!.catchUp();
    });

    it('the standby disconnected from its primary (primary_conninfo broken): heavy endpoints 503, no stale light read', async () => {
      const service = await serviceOver(standby!.url(db.name));
      await standby!.disconnect();
      try {
        await renameOnPrimary(2, 'renamed while the standby is disconnected');
        await expectHeavyRefused(service, 'LOCUS_REPLICA_UNAVAILABLE', /disconnected/);
        const light = await lightRead(service, 2);
        expect(light.headers['locus-backend']).toBe('primary');
        expect(light.headers['locus-replica-status']).toBe('disconnected');
        expect(light.json()).toMatchObject({ name: 'renamed while the standby is disconnected' });
      } finally {
        await standby!.reconnect();
      }
      // Reconnected, it catches up and serves heavy requests again.
      await standby!.catchUp();
      await sleep(300); // past the cached reading
      const recovered = await service.app.inject({ method: 'GET', url: HEAVY[0]! });
      expect(recovered.statusCode, recovered.body).toBe(200);
    });

    it('the read primary unreachable: freshness cannot be known, heavy endpoints 503, light reads from the standby say so', async () => {
      const service = await serviceOver(standby!.url(db.name), {
        primaryUrl: `postgres://locus:locus@127.0.0.1:${await freePort()}/${db.name}`,
      });
      await expectHeavyRefused(service, 'LOCUS_REPLICA_UNAVAILABLE', /cannot be known/);
      const light = await lightRead(service);
      expect(light.headers['locus-backend']).toBe('replica');
      expect(light.headers['locus-staleness']).toBe('unknown');
      expect(light.headers['locus-replica-lag-ms']).toBeUndefined();
    });

    it('the standby promoted: heavy endpoints 503, light reads from the primary', async () => {
      const service = await serviceOver(standby!.url(db.name));
      await standby!.promote();
      await renameOnPrimary(3, 'renamed after the promotion');
      await expectHeavyRefused(service, 'LOCUS_REPLICA_UNAVAILABLE', /not in recovery/);
      const light = await lightRead(service, 3);
      expect(light.headers['locus-backend']).toBe('primary');
      expect(light.headers['locus-replica-status']).toBe('not-in-recovery');
      expect(light.json()).toMatchObject({ name: 'renamed after the promotion' });
    });

    it('the standby stopped: heavy endpoints 503, light reads from the primary say the replica is unreachable', async () => {
      const service = await serviceOver(standby!.url(db.name));
      await standby!.stop();
      for (const url of HEAVY) {
        const response = await service.app.inject({ method: 'GET', url });
        expect(
          response.statusCode,
          `${url}: ${JSON.stringify(response.headers)} ${response.body.slice(0, 200)}`,
        ).toBe(503);
        expect(['LOCUS_REPLICA_UNAVAILABLE', 'LOCUS_CIRCUIT_OPEN']).toContain(
          response.json<{ code: string }>().code,
        );
      }
      const light = await lightRead(service);
      expect(light.headers['locus-backend']).toBe('primary');
      expect(light.headers['locus-replica-status']).toBe('unreachable');
      expect(light.headers['locus-staleness']).toBe('none');
    });
  },
);
