import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { CategoryState, ProductState } from '../../src/contracts/catalog.events.js';
import type { ReviewState } from '../../src/contracts/review.events.js';
import type { Clock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { createPool } from '../../src/shared/postgres.js';
import { viewTables } from '../../src/projector/projection.types.js';
import { refillRollupsStatements } from '../../src/projector/views/rollups.view.js';
import type { ResilienceOptions } from '../../src/query/backend.policy.js';
import type { LinkSetting } from '../../src/query/link.estimate.js';
import { buildQueryApp } from '../../src/query/query.app.js';
import { ReadStore } from '../../src/query/read-store.js';
import type { RequestSettings } from '../../src/query/request-context.js';
import { ExportApi } from '../../src/query/upstream.client.js';
import { sendingDevToken } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../../testkit/isolation.js';
import { seededRandom } from '../../testkit/random.js';
import type { HttpServer } from '../../src/shared/http-server.js';

/** Test data for the read store, as the owners see it (full states) — the views are derived from it. */
export interface Dataset {
  categories: CategoryState[];
  /** Categories products point at but the view does not know (its name is then null). */
  ghostCategoryIds: string[];
  products: ProductState[];
  reviews: ReviewState[];
  /** Reviews whose product is in no view and no catalog (left out by every join). */
  orphanReviews: ReviewState[];
}

export const NOW = new Date('2026-06-15T12:00:00.000Z');
const DAY = 86_400_000;

/**
 * A catalog with `categoryCount` categories of `perCategory` products, a few products without a
 * category and one in a category unknown to the view, and reviews spread over the 150 days before
 * NOW with ratings skewed per product (so rankings are not ties).
 */
export function makeDataset(
  seed: number,
  options: { categoryCount?: number; perCategory?: number; reviews?: number } = {},
): Dataset {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const at = (daysAgo: number) => new Date(NOW.getTime() - Math.floor(daysAgo * DAY)).toISOString();
  const categories: CategoryState[] = Array.from({ length: options.categoryCount ?? 4 }, (_, index) => ({
    id: randomUUID(),
    name: `Category ${index}`,
    description: '',
    createdAt: at(400),
    updatedAt: at(400),
  }));
  const ghostCategoryIds = [randomUUID()];
  const products: ProductState[] = [];
  const addProduct = (categoryId: string | null, createdAt: string) =>
    products.push({
      id: randomUUID(),
      sku: `SKU-${products.length}`,
      name: `Product ${products.length}`,
      description: `about product ${products.length}`,
      categoryId,
      price: { amount: Math.floor(random() * 15_000), currency: 'EUR' },
      attributes: { colour: pick(['red', 'blue']) },
      createdAt,
      updatedAt: createdAt,
    });
  for (const category of categories) {
    for (let i = 0; i < (options.perCategory ?? 10); i++) addProduct(category.id, at(200 + random() * 100));
  }
  addProduct(null, at(250));
  addProduct(null, at(250)); // same created_at as the previous one: the id breaks the tie
  addProduct(ghostCategoryIds[0]!, at(260));
  const quality = new Map(products.map((product) => [product.id, 1 + random() * 4]));
  const reviews: ReviewState[] = [];
  for (let i = 0; i < (options.reviews ?? 1500); i++) {
    const product = pick(products);
    const base = quality.get(product.id)!;
    const rating = Math.min(5, Math.max(1, Math.round(base + (random() - 0.5) * 2)));
    const createdAt = at(random() * 150);
    reviews.push({
      id: randomUUID(),
      productId: product.id,
      author: `author-${i % 37}`,
      rating,
      title: `review ${i}`,
      body: `body of review ${i}`,
      createdAt,
      updatedAt: createdAt,
    });
  }
  const orphanReviews = Array.from({ length: 5 }, (_, i) => ({
    ...reviews[i]!,
    id: randomUUID(),
    productId: randomUUID(),
  }));
  return { categories, ghostCategoryIds, products, reviews, orphanReviews };
}

/**
 * Writes the dataset into the view tables on the read PRIMARY, as the projector would, including
 * all-time review summaries per product and per category. review_view's denormalised columns are
 * deliberately left null: no strategy may join through them.
 */
export async function seedViews(primary: pg.Pool, data: Dataset): Promise<void> {
  const client = await primary.connect();
  try {
    await client.query('BEGIN');
    for (const category of data.categories) {
      await client.query(
        `INSERT INTO category_view (id, name, description, version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $5)`,
        [category.id, category.name, category.description, category.createdAt, category.updatedAt],
      );
    }
    const names = new Map(data.categories.map((category) => [category.id, category.name]));
    for (const product of data.products) {
      const own = data.reviews.filter((review) => review.productId === product.id);
      const histogram = [1, 2, 3, 4, 5].map(
        (rating) => own.filter((review) => review.rating === rating).length,
      );
      const sum = own.reduce((total, review) => total + review.rating, 0);
      await client.query(
        `INSERT INTO product_summary (id, sku, name, description, category_id, category_name, price_amount,
           price_currency, attributes, created_at, updated_at, version, review_count, rating_sum, average_rating,
           rating_histogram, last_review_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12::int, $13::int,
                 round($13::int::numeric / NULLIF($12::int, 0), 4), $14, $15)`,
        [
          product.id,
          product.sku,
          product.name,
          product.description,
          product.categoryId,
          product.categoryId === null ? null : (names.get(product.categoryId) ?? null),
          product.price.amount,
          product.price.currency,
          product.attributes,
          product.createdAt,
          product.updatedAt,
          own.length,
          sum,
          histogram,
          own.length === 0
            ? null
            : own
                .map((review) => review.createdAt)
                .sort()
                .at(-1),
        ],
      );
      await client.query(
        `INSERT INTO applied_versions (aggregate_type, aggregate_id, version, event_time) VALUES ('product', $1, 1, $2)`,
        [product.id, product.updatedAt],
      );
    }
    for (const review of [...data.reviews, ...data.orphanReviews]) {
      await client.query(
        `INSERT INTO review_view (id, product_id, author, rating, title, body, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)`,
        [
          review.id,
          review.productId,
          review.author,
          review.rating,
          review.title,
          review.body,
          review.createdAt,
          review.updatedAt,
        ],
      );
    }
    await client.query(
      `INSERT INTO category_summary (category_id, name, product_count, price_min, price_max, price_avg, review_count, average_rating)
       SELECT p.category_id, c.name, count(*), min(p.price_amount), max(p.price_amount), round(avg(p.price_amount), 2),
              sum(p.review_count), round(sum(p.rating_sum)::numeric / NULLIF(sum(p.review_count), 0), 4)
       FROM product_summary p LEFT JOIN category_view c ON c.id = p.category_id
       WHERE p.category_id IS NOT NULL GROUP BY p.category_id, c.name`,
    );
    await refillRollups(client);
    await client.query('COMMIT');
    // As autovacuum would: planner statistics (they reach the replica by WAL) drive strategy=auto.
    await client.query('ANALYZE category_view, product_summary, review_view');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** The rollups of the views written here as the projector would keep them (they bypass it). */
async function refillRollups(db: pg.Pool | pg.PoolClient): Promise<void> {
  for (const statement of refillRollupsStatements(viewTables()))
    await db.query(statement.text, [...statement.values]);
}

/**
 * Adds `count` reviews straight into review_view on the read PRIMARY (one statement, for volume),
 * spread over the given products and over the 2,000 hours before NOW (inside the default window),
 * each with a body of `bodyBytes`.
 */
export async function seedBulkReviews(
  primary: pg.Pool,
  productIds: string[],
  count: number,
  bodyBytes = 1,
): Promise<void> {
  await primary.query(
    `INSERT INTO review_view (id, product_id, author, rating, title, body, created_at, updated_at, version)
     SELECT gen_random_uuid(), ($1::uuid[])[1 + i % cardinality($1::uuid[])], 'bulk', 1 + i % 5, 't',
            repeat('x', $4::int), $2::timestamptz - (i % 2000) * interval '1 hour',
            $2::timestamptz - (i % 2000) * interval '1 hour', 1
     FROM generate_series(1, $3::int) AS i`,
    [productIds, NOW, count, bodyBytes],
  );
  await refillRollups(primary);
  await primary.query('ANALYZE review_view');
}

/** Waits until the replica has replayed everything the primary had committed when this was called. */
export async function waitForReplica(primary: pg.Pool, replica: pg.Pool, timeoutMs = 15_000): Promise<void> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const target = rows[0]!.lsn;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows: replayed } = await replica.query<{ caught_up: boolean }>(
      'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught_up',
      [target],
    );
    if (replayed[0]?.caught_up) return;
    if (Date.now() > deadline) throw new Error(`replica did not replay ${target} within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/**
 * Connects to the replica copy of a fresh test database once it has arrived by WAL, with everything
 * its primary had committed by then (its migrations and procedures): a database that accepts
 * connections on the replica may not have replayed its tables yet.
 */
export async function replicaPoolWhenReady(
  db: Pick<TestDatabase, 'url' | 'replicaUrl'>,
  applicationName: string,
): Promise<pg.Pool> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const pool = createPool(db.replicaUrl, { applicationName, max: 4 });
    try {
      await pool.query('SELECT 1');
      const primary = createPool(db.url, { applicationName, max: 1 });
      try {
        await waitForReplica(primary, pool, Math.max(1_000, deadline - Date.now()));
      } finally {
        await primary.end();
      }
      return pool;
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

export interface FakeUpstream {
  url: string;
  /** Requests served so far, by path. */
  hits: Map<string, number>;
  /** Milliseconds every response is delayed by (mutable, to make the upstream slow mid-test). */
  delayMs: number;
  close(): Promise<void>;
}

/**
 * A stand-in for another SERVICE's HTTP export API (not for its database): `GET <path>?after=&limit=`
 * answering `{items, next}` over the given items in id order, like the owners' keyset exports.
 */
export async function startFakeExportApi(routes: Record<string, { id: string }[]>): Promise<FakeUpstream> {
  const app: FastifyInstance = Fastify();
  const upstream: FakeUpstream = { url: '', hits: new Map(), delayMs: 0, close: () => app.close() };
  for (const [path, unsorted] of Object.entries(routes)) {
    const items = [...unsorted].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    app.get(path, async (request) => {
      upstream.hits.set(path, (upstream.hits.get(path) ?? 0) + 1);
      if (upstream.delayMs > 0) await sleep(upstream.delayMs);
      const { after, limit } = request.query as { after?: string; limit?: string };
      const size = Number(limit ?? 100);
      const start = after === undefined ? 0 : items.findIndex((item) => item.id > after);
      const page = start < 0 ? [] : items.slice(start, start + size);
      const more = start >= 0 && start + size < items.length;
      return { items: page, next: more ? page.at(-1)!.id : null };
    });
  }
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  upstream.url = address;
  return upstream;
}

export const TEST_SETTINGS: RequestSettings = {
  defaultDeadlineMs: 5_000,
  exportDeadlineMs: 30_000,
  maxDeadlineMs: 60_000,
  consistencyWaitMs: 2_000,
  maxWindowDays: 1830,
  defaultWindowDays: 90,
  exportIdleMs: 30_000,
};

export const TEST_RESILIENCE: ResilienceOptions = {
  breakerFailures: 5,
  halfOpenAfterMs: 5_000,
  retries: 2,
  retryInitialDelayMs: 10,
};

export interface TestQueryService {
  app: HttpServer;
  store: ReadStore;
  replica: pg.Pool;
  primary: pg.Pool;
  close(): Promise<void>;
}

/** The query service wired like src/apps/query.ts, with the test's addresses and a fixed clock. */
export async function startQueryService(options: {
  replicaUrl: string;
  primaryUrl: string;
  catalogUrl: string;
  reviewsUrl: string;
  primaryApplicationName?: string;
  resilience?: Partial<ResilienceOptions>;
  settings?: Partial<RequestSettings>;
  maxReplicaLagMs?: number;
  statementTimeoutMs?: number;
  clock?: Clock;
  /** Whether strategy=composition is served: on unless a test asks otherwise. */
  compositionEnabled?: boolean;
  heavyPerMinute?: number;
  /** The link `auto` weighs (default: measured against the replica, as in production). */
  link?: LinkSetting;
}): Promise<TestQueryService> {
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const replica = createPool(options.replicaUrl, {
    applicationName: 'locus-query-replica',
    max: 10,
    statementTimeoutMs,
  });
  const primary = createPool(options.primaryUrl, {
    applicationName: options.primaryApplicationName ?? 'locus-query-primary',
    max: 5,
    statementTimeoutMs,
  });
  const resilience = { ...TEST_RESILIENCE, ...options.resilience };
  const store = new ReadStore({
    replica,
    primary,
    resilience,
    maxReplicaLagMs: options.maxReplicaLagMs ?? 5_000,
    statementTimeoutMs,
  });
  const app = await buildQueryApp({
    store,
    catalogApi: new ExportApi('catalog-api', options.catalogUrl, resilience, 100),
    reviewsApi: new ExportApi('reviews-api', options.reviewsUrl, resilience, 100),
    clock: options.clock ?? { now: () => NOW },
    logger: createLogger('query-test', 'silent'),
    metrics: createMetricsRegistry('query-test'),
    settings: { ...TEST_SETTINGS, ...options.settings },
    compositionEnabled: options.compositionEnabled ?? true,
    heavyPerMinute: options.heavyPerMinute,
    link: options.link,
  });
  await app.ready();
  sendingDevToken(app);
  return {
    app,
    store,
    replica,
    primary,
    async close() {
      await app.close();
      await Promise.all([replica.end(), primary.end()]);
    },
  };
}

export interface AnalyticsFixture {
  data: Dataset;
  service: TestQueryService;
  close(): Promise<void>;
}

/**
 * A read-store database of its own seeded with `makeDataset(seed)` and replicated, stand-ins for the
 * owners' export APIs serving the same data (the reviews API also serves the orphan reviews when
 * asked), and a query service over them.
 */
export async function startAnalyticsFixture(
  name: string,
  seed: number,
  options: {
    orphansInReviewsApi?: boolean;
    /** Settings of the query service beyond its addresses (limits, timeouts). */
    service?: Omit<
      Parameters<typeof startQueryService>[0],
      'replicaUrl' | 'primaryUrl' | 'catalogUrl' | 'reviewsUrl'
    >;
  } = {},
): Promise<AnalyticsFixture> {
  const db = await createTestDatabase('readmodel');
  const primary = createPool(db.url, { applicationName: name, max: 2 });
  const replicaProbe = await replicaPoolWhenReady(db, name);
  const data = makeDataset(seed);
  await seedViews(primary, data);
  await waitForReplica(primary, replicaProbe);
  const catalog = await startFakeExportApi({
    '/export/products': data.products,
    '/export/categories': data.categories,
  });
  const reviews = await startFakeExportApi({
    '/export/reviews': options.orphansInReviewsApi ? [...data.reviews, ...data.orphanReviews] : data.reviews,
  });
  const service = await startQueryService({
    replicaUrl: db.replicaUrl,
    primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
    catalogUrl: catalog.url,
    reviewsUrl: reviews.url,
    ...options.service,
  });
  return {
    data,
    service,
    async close() {
      await service.close();
      await catalog.close();
      await reviews.close();
      await replicaProbe.end();
      await primary.end();
      await db.drop();
    },
  };
}

export interface BulkReviewStores {
  db: TestDatabase;
  /** The fake export APIs the composition and service-join strategies page through. */
  upstreams: { catalog: FakeUpstream; reviews: FakeUpstream };
  /** A query service over these stores (closed with them); options override the stores' addresses. */
  service(options?: Partial<Parameters<typeof startQueryService>[0]>): Promise<TestQueryService>;
  close(): Promise<void>;
}

/**
 * A fresh read store holding a small dataset plus `bulkReviews` reviews (bodies of `bodyBytes`),
 * replayed on the replica, and fake catalog and reviews export APIs: the setup of the tests that need
 * heavy queries slow enough to stall, time out or stream.
 */
export async function bulkReviewStores(options: {
  applicationName: string;
  seed: number;
  dataset: Parameters<typeof makeDataset>[1];
  bulkReviews: number;
  bodyBytes?: number;
}): Promise<BulkReviewStores> {
  const db = await createTestDatabase('readmodel');
  const primary = createPool(db.url, { applicationName: options.applicationName, max: 2 });
  const services: TestQueryService[] = [];
  try {
    const replicaProbe = await replicaPoolWhenReady(db, options.applicationName);
    const data = makeDataset(options.seed, options.dataset);
    await seedViews(primary, data);
    const productIds = data.products.map((product) => product.id);
    await seedBulkReviews(primary, productIds, options.bulkReviews, options.bodyBytes);
    await waitForReplica(primary, replicaProbe, 60_000);
    await replicaProbe.end();
    const catalog = await startFakeExportApi({ '/export/products': data.products, '/export/categories': [] });
    const reviews = await startFakeExportApi({ '/export/reviews': data.reviews });
    return {
      db,
      upstreams: { catalog, reviews },
      async service(overrides = {}) {
        const started = await startQueryService({
          replicaUrl: db.replicaUrl,
          primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
          catalogUrl: catalog.url,
          reviewsUrl: reviews.url,
          ...overrides,
        });
        services.push(started);
        return started;
      },
      async close() {
        for (const service of services) await service.close();
        await catalog.close();
        await reviews.close();
        await primary.end();
        await db.drop();
      },
    };
  } catch (error) {
    await primary.end();
    await db.drop();
    throw error;
  }
}
