import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reviewCollections } from '../../src/reviews/review.model.js';
import { waitForReplay } from '../../src/verify/replica-views.js';
import { verifyViews, type VerifyProgress } from '../../src/verify/verify.command.js';
import { EventWriter } from '../../testkit/events.js';
import { replicaPoolWhenReady } from '../query/query.fixtures.js';
import { createTestDatabase, type TestDatabase } from '../../testkit/isolation.js';
import {
  copyViews,
  createDeployment,
  onDatabase,
  purgeReviewEvents,
  seed,
  type Deployment,
} from './verify.fixtures.js';

/**
 * A deployment's history: categories, products, reviews, then edits, a review moved to another
 * rating, a deleted review, a renamed and moved product, a renamed category and a deleted product
 * (its reviews live on, naming no product).
 */
function history(writer: EventWriter, reviews = 60): { reviewIds: string[]; productIds: string[] } {
  const categoryIds = ['books', 'games', 'tools'].map((name) => writer.category(name));
  const productIds = Array.from({ length: 12 }, (_, i) =>
    writer.product({ categoryId: categoryIds[i % 3]!, price: 500 + i * 10 }),
  );
  const reviewIds = Array.from({ length: reviews }, (_, i) =>
    writer.review({ productId: productIds[i % productIds.length]!, rating: 1 + (i % 5) }),
  );
  writer.review({ id: reviewIds[0]!, rating: 5 });
  writer.review({ id: reviewIds[2]!, rating: 1 });
  writer.deleteReview(reviewIds[1]!);
  writer.product({ id: productIds[0]!, name: 'renamed', categoryId: categoryIds[1] });
  writer.category('books, second edition', categoryIds[0]);
  writer.deleteProduct(productIds[11]!);
  return { reviewIds, productIds };
}

describe('locus verify', () => {
  let deployment: Deployment;
  let writer: EventWriter;
  const extraDatabases: TestDatabase[] = [];

  beforeEach(async () => {
    deployment = await createDeployment();
    writer = new EventWriter();
  }, 60_000);

  afterEach(async () => {
    await Promise.allSettled([deployment?.drop(), ...extraDatabases.splice(0).map((db) => db.drop())]);
  });

  it('finds no difference, on the primary and the replica, after the review events were purged', async () => {
    history(writer);
    await seed(deployment, writer);
    expect(await purgeReviewEvents(deployment.reviewsDb)).toBeGreaterThan(0);

    const report = await verifyViews(deployment.urls({ readReplica: deployment.readDb.replicaUrl }));

    expect(report.differences).toEqual([]);
    expect(report.servers).toEqual(['primary', 'replica']);
    expect(report.counts).toEqual({ categories: 3, products: 11, reviews: 59 });
  }, 60_000);

  it('takes the newest version of a review whose document lags its event, once the others are purged', async () => {
    const { reviewIds } = history(writer);
    const lagging = reviewIds[0]!;
    await seed(deployment, writer, { lagging: new Set([lagging]) });
    // The relay publishes (and so may purge) nothing of the lagging review before repairing it: only
    // its events stay. Every other event is gone.
    await reviewCollections(deployment.reviewsDb).events.deleteMany({ reviewId: { $ne: lagging } });
    const document = await reviewCollections(deployment.reviewsDb).reviews.findOne({ _id: lagging });
    expect(document?.version).toBe(1);

    const report = await verifyViews(deployment.urls());

    expect(report.differences).toEqual([]);
    expect(report.counts.reviews).toBe(59);
  }, 60_000);

  it('names a changed title, timestamp and attribute: view, id, column, expected, found, server', async () => {
    const { reviewIds, productIds } = history(writer);
    await seed(deployment, writer);
    await purgeReviewEvents(deployment.reviewsDb);
    const url = deployment.readDb.url;
    const [review] = await onDatabase<{ id: string }>(
      url,
      `UPDATE review_view SET title = 'tampered' WHERE id = $1 RETURNING id`,
      [reviewIds[5]],
    );
    const [category] = await onDatabase<{ id: string }>(
      url,
      `UPDATE category_view SET updated_at = updated_at + interval '1 second'
       WHERE id = (SELECT min(id::text)::uuid FROM category_view) RETURNING id`,
    );
    await onDatabase(
      url,
      `UPDATE product_summary SET attributes = jsonb_set(attributes, '{color}', '"blue"') WHERE id = $1`,
      [productIds[3]],
    );

    const report = await verifyViews(deployment.urls());

    expect(report.differences).toHaveLength(3);
    expect(report.differences).toEqual(
      expect.arrayContaining([
        {
          server: 'primary',
          view: 'review_view',
          id: review!.id,
          kind: 'different',
          column: 'title',
          expected: 't',
          found: 'tampered',
        },
        {
          server: 'primary',
          view: 'product_summary',
          id: productIds[3],
          kind: 'different',
          column: 'attributes',
          expected: { color: 'red' },
          found: { color: 'blue' },
        },
      ]),
    );
    const timestamp = report.differences.find((d) => d.view === 'category_view');
    expect(timestamp).toMatchObject({ server: 'primary', id: category!.id, column: 'updated_at' });
    expect(Date.parse(String(timestamp?.found)) - Date.parse(String(timestamp?.expected))).toBe(1000);
  }, 60_000);

  it('names a row that differs only on the replica', async () => {
    const { reviewIds } = history(writer);
    await seed(deployment, writer);
    await purgeReviewEvents(deployment.reviewsDb);
    // The streaming replica is read-only and replays the primary byte for byte, so a row that differs
    // only there cannot be made on it. The "replica" here is a second read database holding a copy of
    // the views, changed in one row: the same code path (wait for replay, copy, compare) runs against
    // it; the first test covers the real replica.
    const copy = await createTestDatabase('readmodel');
    extraDatabases.push(copy);
    await copyViews(deployment.readDb.url, copy.url);
    await onDatabase(copy.url, `UPDATE review_view SET body = 'only on the replica' WHERE id = $1`, [
      reviewIds[7],
    ]);

    const report = await verifyViews(deployment.urls({ readReplica: copy.url }));

    expect(report.differences).toEqual([
      {
        server: 'replica',
        view: 'review_view',
        id: reviewIds[7],
        kind: 'different',
        column: 'body',
        expected: 'b',
        found: 'only on the replica',
      },
    ]);
  }, 60_000);

  it('names a rollup row that drifted from the reviews it sums', async () => {
    const { productIds } = history(writer);
    await seed(deployment, writer);
    await purgeReviewEvents(deployment.reviewsDb);
    const [drifted] = await onDatabase<{ key: string }>(
      deployment.readDb.url,
      `UPDATE product_day_rollup SET rating_sum = rating_sum + 1
       WHERE product_id = $1 RETURNING product_id::text || ' ' || day::text AS key`,
      [productIds[3]],
    );

    const report = await verifyViews(deployment.urls());

    expect(report.differences).toEqual([
      expect.objectContaining({
        view: 'product_day_rollup',
        id: drifted!.key,
        kind: 'different',
        column: 'rating_sum',
      }),
    ]);
  }, 60_000);

  it('names a row missing from a view and one that should not be there', async () => {
    const { reviewIds } = history(writer);
    await seed(deployment, writer);
    await purgeReviewEvents(deployment.reviewsDb);
    await onDatabase(deployment.readDb.url, 'DELETE FROM review_view WHERE id = $1', [reviewIds[9]]);
    const [ghost] = await onDatabase<{ id: string }>(
      deployment.readDb.url,
      `INSERT INTO category_view (id, name, description, version, created_at, updated_at)
       VALUES (gen_random_uuid(), 'ghost', '', 1, now(), now()) RETURNING id`,
    );

    const report = await verifyViews(deployment.urls());

    expect(report.differences).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ view: 'review_view', id: reviewIds[9], kind: 'missing', found: null }),
        expect.objectContaining({ view: 'category_view', id: ghost!.id, kind: 'unexpected', expected: null }),
      ]),
    );
  }, 60_000);

  it('reads every source and the replica in chunks of the chunk size, and still finds no difference', async () => {
    history(writer, 240);
    await seed(deployment, writer);
    const chunkSize = 7;
    const progress: VerifyProgress[] = [];

    const report = await verifyViews(deployment.urls({ readReplica: deployment.readDb.replicaUrl }), {
      chunkSize,
      onProgress: (p) => progress.push({ ...p }),
    });

    expect(report.differences).toEqual([]);
    expect(report.counts.reviews).toBe(239);
    const steps = new Map<string, number[]>();
    for (const { step, done } of progress) steps.set(step, [...(steps.get(step) ?? [0]), done]);
    // Every source and every replica view, each read a chunk at a time, never more than a chunk.
    for (const step of ['categories', 'products', 'reviews', 'review events', 'replica review_view'])
      expect(steps.has(step), `${step} in ${[...steps.keys()].join(', ')}`).toBe(true);
    for (const [step, seen] of steps) {
      for (let i = 1; i < seen.length; i++)
        expect(seen[i]! - seen[i - 1]!, step).toBeLessThanOrEqual(chunkSize);
    }
    expect(steps.get('reviews')!.length).toBeGreaterThan(239 / chunkSize);
  }, 120_000);

  it('stops waiting for a replica that has not replayed the primary position, and says so', async () => {
    // The fresh database reaches the replica by WAL: connect once it is there.
    const replicaPool = await replicaPoolWhenReady(deployment.readDb, 'verify-test');
    const replica = await replicaPool.connect();
    try {
      // A position far beyond anything written: the standby cannot have replayed it.
      const waiting = waitForReplay(replica, 'FFFFFFFF/0', 300);
      await expect(waiting).rejects.toMatchObject({ code: 'LOCUS_REPLICA_LAGGING' });
      await expect(waiting).rejects.toThrow(/not up to FFFFFFFF\/0 .* after waiting 0 s/);
    } finally {
      replica.release();
      await replicaPool.end();
    }
  });
});
