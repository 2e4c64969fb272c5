import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDatabase, type TestDatabase } from '../../testkit/isolation.js';
import { bulkReviewStores, type BulkReviewStores, type TestQueryService } from './query.fixtures.js';

/** One bucket per review: a result of about 300,000 buckets, some 15 MB of JSON. */
const REVIEWS = 300_000;
const HUGE = '/analytics/rollup?strategy=locality&groups=10000000';
/** Room for the fold of 300,000 reviews on a loaded machine. */
const LONG_DEADLINE = { 'locus-deadline-ms': '60000' };

describe('rollup into a huge number of groups', () => {
  let db: TestDatabase;
  let stores: BulkReviewStores;
  let service: TestQueryService;

  beforeAll(async () => {
    stores = await bulkReviewStores({
      applicationName: 'rollup-stream-test',
      seed: 777,
      dataset: { categoryCount: 1, perCategory: 3, reviews: 10 },
      bulkReviews: REVIEWS,
    });
    db = stores.db;
    service = await stores.service({ settings: { exportIdleMs: 60_000 } });
    await service.app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);

  afterAll(async () => {
    await stores?.close();
  });

  /** Replica sessions of this database still inside a rollup's snapshot (its result not read to the end). */
  async function rollupsInFlight(): Promise<number> {
    const admin = new pg.Client({ connectionString: withDatabase(db.replicaUrl, 'postgres') });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = $1 AND query LIKE '%locus_rollup%' AND xact_start IS NOT NULL
           AND pid <> pg_backend_pid()`,
        [db.name],
      );
      return rows[0]!.n;
    } finally {
      await admin.end();
    }
  }

  it('streams the buckets: a client that stops reading stalls the replica cursor instead of the whole answer piling up in the service', async () => {
    const { port } = service.app.server.address() as AddressInfo;
    const request = http.get({ host: '127.0.0.1', port, path: HUGE, headers: LONG_DEADLINE });
    request.on('error', () => undefined);
    try {
      const response = await new Promise<http.IncomingMessage>((resolve) =>
        request.once('response', resolve),
      );
      expect(response.statusCode).toBe(200);
      expect(response.headers['transfer-encoding']).toBe('chunked');
      await new Promise((resolve) => response.once('data', resolve));
      response.pause();
      // The first bytes came while the service still reads the result from the replica, a cursor
      // batch at a time as the client reads: for a stalled client its snapshot stays open, the
      // result fetched only in part. (An answer built whole is read at once and committed before
      // its first byte is sent.)
      for (let i = 0; i < 5; i++) {
        expect(await rollupsInFlight()).toBe(1);
        await sleep(250);
      }
    } finally {
      request.destroy();
    }
  }, 60_000);

  it('the streamed answer is the whole document: every review in exactly one bucket, in bucket order', async () => {
    const { port } = service.app.server.address() as AddressInfo;
    const text = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: HUGE, headers: LONG_DEADLINE }, (response) => {
          const parts: Buffer[] = [];
          response.on('data', (part: Buffer) => parts.push(part));
          response.on('aborted', () => reject(new Error('the server ended the answer early')));
          response.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
        })
        .on('error', reject);
    });
    const body = JSON.parse(text) as { groups: number; buckets: { bucket: number; reviewCount: number }[] };
    expect(body.groups).toBe(10_000_000);
    // Every review of the default window (the bulk spans it, less those at its open end).
    expect(body.buckets.reduce((n, bucket) => n + bucket.reviewCount, 0)).toBeGreaterThan(REVIEWS * 0.99);
    expect(body.buckets.every((bucket, i) => i === 0 || bucket.bucket > body.buckets[i - 1]!.bucket)).toBe(
      true,
    );
  }, 60_000);
});
