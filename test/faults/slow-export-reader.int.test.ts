import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders } from '../support/auth.js';
import { withDatabase, type TestDatabase } from '../../testkit/isolation.js';
import { bulkReviewStores, type BulkReviewStores, type TestQueryService } from '../query/query.fixtures.js';

/** Far more NDJSON than the socket buffers of both ends hold, so a client that stops reading stalls the export. */
const REVIEWS = 30_000;
const BODY_BYTES = 2_000;
const IDLE_MS = 500;

describe('a client that stops reading /analytics/export', () => {
  let db: TestDatabase;
  let stores: BulkReviewStores;
  let service: TestQueryService;

  beforeAll(async () => {
    stores = await bulkReviewStores({
      applicationName: 'slow-export-reader-test',
      seed: 1515,
      dataset: { categoryCount: 1, perCategory: 3, reviews: 10 },
      bulkReviews: REVIEWS,
      bodyBytes: BODY_BYTES,
    });
    db = stores.db;
    service = await stores.service({ settings: { exportIdleMs: IDLE_MS } });
    await service.app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);

  afterAll(async () => {
    await stores?.close();
  });

  /** The replica sessions of this test's database still serving an export, seen by the replica server. */
  async function exportSessions(): Promise<number> {
    const admin = new pg.Client({ connectionString: withDatabase(db.replicaUrl, 'postgres') });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = $1 AND query LIKE '%locus_review_export%' AND pid <> pg_backend_pid()`,
        [db.name],
      );
      return rows[0]!.n;
    } finally {
      await admin.end();
    }
  }

  /** Connections the query service's HTTP server holds open. */
  function serverConnections(): Promise<number> {
    return new Promise((resolve, reject) =>
      service.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );
  }

  async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
    return true;
  }

  it('loses its connection after the idle timeout, and its replica session and snapshot are released', async () => {
    const { port } = service.app.server.address() as AddressInfo;
    const request = http.get({
      host: '127.0.0.1',
      port,
      path: '/analytics/export?strategy=locality',
      headers: authHeaders(),
    });
    request.on('error', () => undefined);
    try {
      const response = await new Promise<http.IncomingMessage>((resolve) =>
        request.once('response', resolve),
      );
      expect(response.statusCode).toBe(200);
      // Read one chunk, then stop reading: TCP back-pressure stalls the server's writes. (The client,
      // not reading, does not see the close either: the server side is what is checked.)
      await new Promise((resolve) => response.once('data', resolve));
      response.pause();
      const stalledAt = performance.now();
      // While the client stalls, the export holds a replica session in its snapshot.
      expect(await waitUntil(async () => (await exportSessions()) === 1, 2_000)).toBe(true);

      expect(await waitUntil(async () => (await exportSessions()) === 0, 10_000)).toBe(true);
      expect(performance.now() - stalledAt).toBeGreaterThanOrEqual(IDLE_MS * 0.8);
      expect(await serverConnections()).toBe(0);
    } finally {
      request.destroy();
    }
    // The service goes on serving.
    const after = await service.app.inject({
      method: 'GET',
      url: '/analytics/rollup?groups=3&strategy=locality',
    });
    expect(after.statusCode, after.body).toBe(200);
  }, 30_000);
});
