import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkReviewStores, type BulkReviewStores, type TestQueryService } from './query.fixtures.js';
import { startRoundTripCounter, type RoundTripCounter } from './round-trip-counter.js';

/** Waits until every connection of `pool` is back in it (a COMMIT behind the answer may still be out). */
async function untilIdle(pool: pg.Pool): Promise<void> {
  for (let waited = 0; pool.idleCount < pool.totalCount && waited < 5_000; waited += 10) await sleep(10);
}

/** Longer than any freshness reading is kept, so each measured request pays for its own. */
const READING_KEPT_MS = 300;

describe('round trips of a locality request', () => {
  let stores: BulkReviewStores;
  let counter: RoundTripCounter;
  let service: TestQueryService;

  beforeAll(async () => {
    stores = await bulkReviewStores({
      applicationName: 'query-round-trips-test',
      seed: 17,
      dataset: { categoryCount: 2, perCategory: 5, reviews: 200 },
      bulkReviews: 0,
    });
    counter = startRoundTripCounter();
    service = await stores.service({
      replicaUrl: await counter.via('replica', stores.db.replicaUrl),
      primaryUrl: await counter.via('primary', stores.db.urlFor('LOCUS_QUERY_DB_URL')),
    });
  }, 60_000);

  afterAll(async () => {
    await stores?.close();
    await counter?.close();
  });

  /** The round trips `url` waits for in a row, on connections its pools already hold. */
  async function roundTripsOf(url: string) {
    // Concurrent warm-ups leave the pools as many connections as one request uses at once.
    for (const warm of await Promise.all([1, 2, 3].map(() => service.app.inject({ method: 'GET', url })))) {
      expect(warm.statusCode, warm.body).toBe(200);
    }
    await sleep(READING_KEPT_MS);
    counter.reset();
    const response = await service.app.inject({ method: 'GET', url });
    expect(response.statusCode, response.body).toBe(200);
    const tally = counter.tally();
    console.log(url, JSON.stringify(tally));
    return tally;
  }

  it('top-rated: the freshness reading and the snapshot setup share a round trip, the procedure takes one more', async () => {
    const tally = await roundTripsOf('/analytics/top-rated?strategy=locality');
    expect(tally.sequential).toBe(2);
    expect(tally.byBackend.primary).toBe(1);
  });

  it('rollup into one cursor batch of groups or fewer: one statement, two round trips in a row', async () => {
    const tally = await roundTripsOf('/analytics/rollup?strategy=locality&groups=10');
    expect(tally.sequential).toBe(2);
  });

  it('category report: its two procedures are one statement', async () => {
    const tally = await roundTripsOf('/analytics/category-report?strategy=locality');
    expect(tally.sequential).toBe(2);
  });

  it('a category filter is checked alongside the query, not before it', async () => {
    const { rows } = await service.replica.query<{ id: string }>('SELECT id FROM category_view LIMIT 1');
    const categoryId = rows[0]!.id;
    const tally = await roundTripsOf(`/analytics/top-rated?strategy=locality&categoryId=${categoryId}`);
    expect(tally.sequential).toBe(2);
  });

  it('the COMMIT sent behind the answer hands the pool back a connection outside any transaction, with its own timeout', async () => {
    const { replica } = service;
    for (const url of [
      '/analytics/top-rated?strategy=locality',
      '/analytics/category-report?strategy=locality',
    ]) {
      const response = await service.app.inject({ method: 'GET', url });
      expect(response.statusCode, response.body).toBe(200);
      await untilIdle(replica);
      expect(replica.idleCount).toBe(replica.totalCount);
      // The pool hands out its most recently returned connection first: the one that answered.
      const { rows } = await replica.query<{ in_transaction: boolean; timeout: string }>(
        `SELECT now() <> statement_timestamp() AS in_transaction, current_setting('statement_timeout') AS timeout`,
      );
      expect(rows[0]).toEqual({ in_transaction: false, timeout: '10s' });
    }
  });

  it('a replica refused after the snapshot opened: 503, and its connection goes back outside any transaction', async () => {
    // A bound below any measurable lag stands in for a replica that fell behind.
    const refusing = await stores.service({ maxReplicaLagMs: -1 });
    const response = await refusing.app.inject({
      method: 'GET',
      url: '/analytics/top-rated?strategy=locality',
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'LOCUS_REPLICA_LAGGING' });
    const { replica } = refusing;
    await untilIdle(replica);
    expect(replica.idleCount).toBe(replica.totalCount);
    const { rows } = await replica.query<{ in_transaction: boolean }>(
      'SELECT now() <> statement_timestamp() AS in_transaction',
    );
    expect(rows[0]).toEqual({ in_transaction: false });
  });
});
