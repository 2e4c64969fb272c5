import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewsOutboxSource } from '../../src/reviews/review-outbox.relay.js';
import { ensureReviewIndexes, reviewCollections } from '../../src/reviews/review.model.js';
import { isDuplicateKey } from '../../src/reviews/review.repository.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueMongoUrl } from '../../testkit/isolation.js';

/**
 * The store behaviour the reviews design stands on, checked on whatever speaks the MongoDB wire
 * protocol here (FerretDB v1 locally, MongoDB in containers).
 */
describe('reviews store semantics the design relies on', () => {
  const { url, database } = uniqueMongoUrl();
  let client: MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = await new MongoClient(url).connect();
    db = client.db(database);
    await ensureReviewIndexes(db);
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  it('lets exactly one of 20 concurrent inserts of one (reviewId, version) succeed; the rest get 11000', async () => {
    for (let round = 0; round < 5; round++) {
      const reviewId = `r${round}`;
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          db
            .collection('review_events')
            .insertOne({ _id: `${reviewId}-${i}` as never, reviewId, version: 2 }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isDuplicateKey(r.reason)).toBe(true);
    }
  });

  it('ensures indexes idempotently (every process runs it at start)', async () => {
    await ensureReviewIndexes(db);
    await ensureReviewIndexes(db);
    const names = (await reviewCollections(db).events.indexes()).map((index) => index.name);
    expect(names).toEqual(expect.arrayContaining(['review_version_unique', 'purge_by_time']));
    const outbox = (await reviewCollections(db).outbox.indexes()).map((index) => index.name);
    expect(outbox).toEqual(expect.arrayContaining(['outbox_lane_slot']));
  });

  it('builds the relay process source from LOCUS_MONGO_URL and LOCUS_TOPIC_PREFIX', async () => {
    const saved = process.env.LOCUS_MONGO_URL;
    process.env.LOCUS_MONGO_URL = url;
    try {
      const source = await reviewsOutboxSource(createLogger('test', 'silent'));
      expect(source.name).toBe('reviews');
      expect(await source.pendingCount?.()).toBe(0);
      await source.close();
    } finally {
      process.env.LOCUS_MONGO_URL = saved;
    }
  });
});
