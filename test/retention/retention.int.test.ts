import { MongoClient, type Db } from 'mongodb';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { idempotencyKeyRetention } from '../../src/catalog/idempotency.retention.js';
import { deadLetterRetention } from '../../src/projector/dead-letter.retention.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { deadLetterCollection } from '../../src/reviews/review-outbox.dead-letters.js';
import { ensureReviewIndexes, reviewCollections } from '../../src/reviews/review.model.js';
import { reviewIdempotencyKeyRetention, writeOutcomeRetention } from '../../src/reviews/review.retention.js';
import type { Clock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import { startRetention, type RetentionJob } from '../../src/shared/retention.js';
import { createTestDatabase, uniqueMongoUrl, type TestDatabase } from '../../testkit/isolation.js';

const logger = createLogger('retention-test', 'silent');
const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** A fixed "now", so every age below is exact. */
const now = new Date('2026-06-01T12:00:00Z');
const clock: Clock = { now: () => new Date(now) };
const ago = (ms: number) => new Date(now.getTime() - ms);

/** A round of the jobs, as the owning process runs them, in chunks of 2 to exercise the chunking. */
async function purgeOnce(jobs: RetentionJob[], metrics = new Registry()) {
  const retention = startRetention(jobs, { clock, logger, metrics, intervalMs: 3600_000, chunk: 2 });
  await retention.runOnce();
  await retention.stop();
  return metrics;
}

describe('retention: idempotency keys and resolved dead letters are purged after their period', () => {
  let catalogDb: TestDatabase;
  let readDb: TestDatabase;
  let catalogPool: pg.Pool;
  let readPool: pg.Pool;
  let mongo: MongoClient;
  let reviewsDb: Db;

  beforeAll(async () => {
    [catalogDb, readDb] = await Promise.all([createTestDatabase('catalog'), createTestDatabase('readmodel')]);
    catalogPool = createPool(catalogDb.url, { applicationName: 'retention-test', max: 2 });
    readPool = createPool(readDb.url, { applicationName: 'retention-test', max: 2 });
    const { url, database } = uniqueMongoUrl();
    mongo = await new MongoClient(url).connect();
    reviewsDb = mongo.db(database);
    await ensureReviewIndexes(reviewsDb);
  });

  afterAll(async () => {
    await catalogPool?.end();
    await readPool?.end();
    await reviewsDb?.dropDatabase();
    await mongo?.close();
    await catalogDb?.drop();
    await readDb?.drop();
  });

  it('the catalog purges its idempotency keys older than the period, in chunks, and counts them', async () => {
    // given 5 keys used 49 hours ago and 2 used an hour ago, with a 48-hour period
    const insert = (key: string, at: Date) =>
      catalogPool.query(
        `INSERT INTO idempotency_keys (key, fingerprint, created_at, response_status, response_body)
         VALUES ($1, 'f', $2, 201, '{}')`,
        [key, at],
      );
    for (let i = 0; i < 5; i++) await insert(`old-${i}`, ago(49 * HOUR));
    for (let i = 0; i < 2; i++) await insert(`young-${i}`, ago(HOUR));

    // when the catalog's retention runs once
    const metrics = await purgeOnce([
      idempotencyKeyRetention(createKysely<CatalogDb>(catalogPool), 48 * HOUR),
    ]);

    // then only the young keys remain, and the purge was counted
    const left = await catalogPool.query<{ key: string }>('SELECT key FROM idempotency_keys ORDER BY key');
    expect(left.rows.map((row) => row.key)).toEqual(['young-0', 'young-1']);
    expect(await metrics.getSingleMetricAsString('locus_retention_purged_total')).toContain(
      'locus_retention_purged_total{store="catalog_idempotency_keys"} 5',
    );
  });

  it('the projector purges its resolved dead letters older than the period, never open or young ones', async () => {
    const insert = (consumer: string, status: string, resolvedAt: Date | null, offset: number) =>
      readPool.query(
        `INSERT INTO dead_letters (consumer, status, reason, error_code, topic, partition, kafka_offset,
                                   created_at, resolved_at)
         VALUES ($1, $2, 'r', 'E', 't', 0, $3, $4, $5)`,
        [consumer, status, offset, ago(60 * DAY), resolvedAt],
      );
    await insert('mine', 'retried', ago(31 * DAY), 1);
    await insert('mine', 'skipped', ago(40 * DAY), 2);
    await insert('mine', 'skipped', ago(31 * DAY), 3);
    await insert('mine', 'retried', ago(DAY), 4); // resolved recently
    await insert('mine', 'parked', null, 5); // open: whatever its age
    await insert('mine', 'waiting', null, 6);
    await insert('other', 'skipped', ago(40 * DAY), 7); // another consumer's

    await purgeOnce([deadLetterRetention(readPool, 'mine', 30 * DAY)]);

    const left = await readPool.query<{ consumer: string; kafka_offset: string }>(
      'SELECT consumer, kafka_offset FROM dead_letters ORDER BY kafka_offset',
    );
    expect(left.rows.map((row) => `${row.consumer}@${row.kafka_offset}`)).toEqual([
      'mine@4',
      'mine@5',
      'mine@6',
      'other@7',
    ]);
  });

  it('the reviews service purges its old idempotency keys, and write outcomes whose entry is gone', async () => {
    const { idempotencyKeys, outcomes, outbox } = reviewCollections(reviewsDb);
    for (let i = 0; i < 3; i++) {
      await idempotencyKeys.insertOne({
        _id: `old-${i}`,
        requestHash: 'h',
        reviewId: 'r',
        createdAt: ago(49 * HOUR),
      });
    }
    await idempotencyKeys.insertOne({ _id: 'young', requestHash: 'h', reviewId: 'r', createdAt: ago(HOUR) });
    for (const id of ['done-1', 'done-2', 'done-3', 'pending', 'parked']) {
      await outcomes.insertOne({ _id: id, outcome: 'cancelled', decidedAt: ago(49 * HOUR) });
    }
    await outcomes.insertOne({ _id: 'recent', outcome: 'completed', decidedAt: ago(HOUR) });
    // an entry still waiting in the outbox, and one parked as a relay dead letter, keep their outcome
    await outbox.insertOne({ _id: 'pending', kind: 'confirmation', eventId: 'x', lane: 0, slot: 0 });
    await deadLetterCollection(reviewsDb).insertOne({
      _id: 'parked',
      productId: 'p',
      lane: 0,
      topic: 't',
      entry: {},
      confirmed: false,
      reason: 'r',
      parkedAt: ago(49 * HOUR),
    });

    await purgeOnce([
      reviewIdempotencyKeyRetention(reviewsDb, 48 * HOUR),
      writeOutcomeRetention(reviewsDb, 48 * HOUR),
    ]);

    expect((await idempotencyKeys.find({}).toArray()).map((key) => key._id)).toEqual(['young']);
    expect((await outcomes.find({}).sort({ _id: 1 }).toArray()).map((o) => o._id)).toEqual([
      'parked',
      'pending',
      'recent',
    ]);
  });

  it("the relay's resolved dead letters go with its outbox retention; parked ones stay", async () => {
    // given a catalog outbox with one parked row and one that was parked, then skipped
    const insert = (key: string) =>
      catalogPool.query<{ id: string }>(
        `INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, aggregate_version,
                             envelope, parked_at, park_reason)
         VALUES (gen_random_uuid(), 't', $1, 'product', $1, 1, '{}', now(), 'too large') RETURNING id::text`,
        [key],
      );
    const parked = (await insert('parked')).rows[0]!.id;
    const skipped = (await insert('skipped')).rows[0]!.id;
    const source = new PostgresOutboxSource({ url: catalogDb.url });
    try {
      expect(await source.deadLetters.skip(skipped)).toBe(true);

      // when the relay's outbox retention runs past the skip
      await source.purgePublished(new Date(Date.now() + 60_000));

      // then the skipped letter is gone and the parked one is still listed
      const left = await catalogPool.query<{ id: string }>('SELECT id::text FROM outbox ORDER BY id');
      expect(left.rows.map((row) => row.id)).toEqual([parked]);
      expect((await source.deadLetters.list(10)).map((letter) => letter.id)).toEqual([parked]);
    } finally {
      await source.close();
    }
  });
});
