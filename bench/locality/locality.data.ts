import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, type Db } from 'mongodb';
import type pg from 'pg';
import { generateReviews } from '../../examples/product-catalog/dataset.js';
import { seededRandom } from '../../testkit/random.js';
import { createCatalogDirectory } from '../../src/reviews/product-directory.js';
import { createReviewBatch, type BatchItem, type ReviewBatchDeps } from '../../src/reviews/review.batch.js';
import { DEFAULT_LANES, reviewCollections } from '../../src/reviews/review.model.js';
import { systemClock, uuidGenerator } from '../../src/shared/clock.js';
import { benchToken } from '../lib/auth.js';
import { progressBar, rateBar } from '../lib/progress.js';
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

/**
 * The slowest catch-up rate waited for, in reviews per second: the relay drains FerretDB's outbox far
 * slower than the import fills it (bench/README.md), so the wait grows with the reviews.
 */
const CATCH_UP_FLOOR_PER_SECOND = 100;
const MIN_CATCH_UP_MS = 1_200_000;

/** Waits until the replica's views hold `target` reviews and the catalog's products, with a bar. */
export async function waitForViews(
  replica: pg.Pool,
  target: Counts,
  timeoutMs = Math.max(MIN_CATCH_UP_MS, (target.reviews / CATCH_UP_FLOOR_PER_SECOND) * 1000),
): Promise<number> {
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

/** Reviews per batch, and batches in flight: the reviews store answers several at once. */
const BATCH_ITEMS = 500;
const BATCHES_IN_FLIGHT = 4;
/**
 * Outbox documents (entries and their confirmations) the import may run ahead of the relay: FerretDB
 * filters the outbox outside its indexes, so the relay slows as the outbox grows; the import waits
 * instead, which keeps the relay near its rate over a small outbox. Checked every so many reviews.
 */
const MAX_OUTBOX_BACKLOG = 100_000;
const BACKLOG_CHECK_EVERY = 10_000;

async function waitForRelay(db: Db): Promise<void> {
  const outbox = reviewCollections(db).outbox;
  while ((await outbox.estimatedDocumentCount()) > MAX_OUTBOX_BACKLOG) await sleep(2_000);
}

export interface ReviewStoreTarget {
  mongo: { url: string; database: string };
  /** The catalog service, which every batch asks whether its products exist. */
  catalogUrl: string;
}

/**
 * The bulk path: reviews created through the reviews service's own batched write code
 * (`createReviewBatch`: the catalog checks its products, then outbox entries, events, documents and
 * confirmations, as every review write), into the run's reviews store. The relay publishes them and
 * the projector builds the views, exactly as for reviews posted one by one, so composition (which
 * pages the reviews store) sees the same reviews as the other strategies. Creation times are spread
 * over the year before the run (an import's `createdAt`). Returns reviews/s into the store.
 */
export async function importReviews(
  target: ReviewStoreTarget,
  productIds: string[],
  from: number,
  to: number,
  now: Date,
): Promise<number> {
  const client = await new MongoClient(target.mongo.url, { appName: 'bench-import' }).connect();
  const deps: ReviewBatchDeps = {
    db: client.db(target.mongo.database),
    clock: systemClock,
    newId: uuidGenerator,
    products: createCatalogDirectory({
      baseUrl: target.catalogUrl,
      clock: systemClock,
      cacheTtlMs: 3_600_000,
      token: benchToken(),
    }),
    lanes: DEFAULT_LANES,
  };
  const random = seededRandom(SEED + from);
  const count = to - from;
  const size = { categories: CATALOG.categories, products: productIds.length, reviews: count };
  const progress = rateBar(
    'importing [{bar}] {value}/{total} reviews into the store | {percentage}% | {rate}/s',
    count,
  );
  let done = 0;
  let failure: Error | undefined;
  const inFlight = new Set<Promise<void>>();
  const send = (items: BatchItem[]) => {
    const sent: Promise<void> = createReviewBatch(deps, items).then(
      () => {
        done += items.length;
        progress.advance(items.length);
      },
      (error: unknown) => {
        failure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    inFlight.add(sent);
    void sent.then(() => inFlight.delete(sent));
  };
  try {
    let batch: BatchItem[] = [];
    for (const review of generateReviews(size, SEED + from)) {
      const createdAt = new Date(now.getTime() - Math.floor(random() * 365 * 86_400_000)).toISOString();
      const { productKey, ...fields } = review;
      batch.push({ productId: productIds[productKey]!, review: fields, createdAt });
      if (batch.length < BATCH_ITEMS) continue;
      send(batch);
      batch = [];
      while (inFlight.size >= BATCHES_IN_FLIGHT) await Promise.race(inFlight);
      if (failure !== undefined) break;
      if (done % BACKLOG_CHECK_EVERY < BATCH_ITEMS) await waitForRelay(deps.db);
    }
    if (batch.length > 0 && failure === undefined) send(batch);
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
  } finally {
    progress.stop();
    await client.close();
  }
  return progress.perSecond();
}
