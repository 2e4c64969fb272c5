import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { createRandom, generateReviews } from '../../examples/product-catalog/dataset.js';
import { CLOUDEVENTS_CONTENT_TYPE } from '../../src/contracts/envelope.js';
import { createEnvelope } from '../../src/contracts/registry.js';
import { ReviewCreatedV1, type ReviewState } from '../../src/contracts/review.events.js';
import type { Topics } from '../../src/contracts/topics.js';
import type { Broker } from '../../src/messaging/kafka.js';
import { progressBar } from '../lib/progress.js';
import { waitForReplay } from '../lib/replica.js';
import { CATALOG, SEED } from './locality.settings.js';

export interface Counts {
  reviews: number;
  products: number;
}

export async function replicaCounts(replica: pg.Pool): Promise<Counts> {
  const { rows } = await replica.query<{ reviews: number; products: number }>(
    'SELECT (SELECT count(*) FROM review_view)::int AS reviews, (SELECT count(*) FROM product_summary)::int AS products',
  );
  return rows[0]!;
}

/** Waits until the replica's views hold `target` reviews and the catalog's products, with a bar. */
export async function waitForViews(replica: pg.Pool, target: Counts, timeoutMs = 1_200_000): Promise<number> {
  const started = performance.now();
  const progress = progressBar(
    'views [{bar}] {value}/{total} rows on the replica | {percentage}% | {rate}/s',
  );
  const total = target.reviews + target.products;
  progress.start(total, 0, { rate: 0 });
  let first: number | undefined;
  try {
    for (;;) {
      const counts = await replicaCounts(replica);
      const seen = Math.min(counts.reviews, target.reviews) + Math.min(counts.products, target.products);
      first ??= seen;
      const seconds = (performance.now() - started) / 1000;
      progress.update(seen, { rate: Math.round((seen - first) / Math.max(seconds, 0.001)) });
      if (seen >= total) return seconds;
      if (performance.now() - started > timeoutMs) {
        throw new Error(`the views did not catch up within ${timeoutMs / 1000} s (${seen}/${total})`);
      }
      await sleep(2_000);
    }
  } finally {
    progress.stop();
  }
}

/** As autovacuum would, eventually: fresh planner statistics (they reach the replica by WAL) for auto. */
export async function analyzeAndReplay(primary: pg.Pool, replica: pg.Pool): Promise<void> {
  await primary.query('ANALYZE category_view, product_summary, review_view');
  await waitForReplay(primary, replica);
}

/**
 * The bulk path: review-created events (full review state, version 1, keyed by product id like the
 * relay keys them) produced straight to the reviews topic. They bypass the reviews store. Returns
 * events/s.
 */
export async function produceBulkReviews(
  broker: Broker,
  topics: Topics,
  productIds: string[],
  from: number,
  to: number,
  now: Date,
): Promise<number> {
  const producer = await broker.producer();
  const random = createRandom(SEED + from);
  const count = to - from;
  const size = { categories: CATALOG.categories, products: productIds.length, reviews: count };
  const progress = progressBar(
    'producing [{bar}] {value}/{total} review-created events | {percentage}% | {rate}/s',
  );
  progress.start(count, 0, { rate: 0 });
  const started = performance.now();
  let done = 0;
  let chunk: { topic: string; key: string; value: string; headers: Record<string, string> }[] = [];
  try {
    for (const review of generateReviews(size, SEED + from)) {
      // Spread over the year before the run, so trends and windows have something to show.
      const createdAt = new Date(now.getTime() - Math.floor(random() * 365 * 86_400_000)).toISOString();
      const state: ReviewState = {
        id: randomUUID(),
        productId: productIds[review.productKey]!,
        author: review.author,
        rating: review.rating,
        title: review.title,
        body: review.body,
        createdAt,
        updatedAt: createdAt,
      };
      const envelope = createEnvelope(ReviewCreatedV1, {
        id: randomUUID(),
        subject: state.id,
        time: new Date(createdAt),
        aggregateVersion: 1,
        data: state,
      });
      chunk.push({
        topic: topics.reviews,
        key: state.productId,
        value: JSON.stringify(envelope),
        headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE },
      });
      // Small sends: keys are skewed (popular products), and one partition's batch must stay under
      // the broker's 1 MB message limit.
      if (chunk.length === 1_000) {
        await producer.send(chunk);
        done += chunk.length;
        chunk = [];
        progress.update(done, { rate: Math.round(done / ((performance.now() - started) / 1000)) });
      }
    }
    if (chunk.length > 0) await producer.send(chunk);
    done += chunk.length;
    progress.update(done, { rate: Math.round(done / ((performance.now() - started) / 1000)) });
  } finally {
    progress.stop();
    await producer.close();
  }
  return done / ((performance.now() - started) / 1000);
}
