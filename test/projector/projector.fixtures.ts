import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { PROJECTOR_SETTINGS, type ProjectorConfig, type ProjectorProcess } from '../../src/apps/projector.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { loadConfig } from '../../src/shared/config.js';
import { authHeaders } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/isolation.js';
import {
  CategoryCreatedV1,
  CategoryUpdatedV1,
  ProductCreatedV1,
  ProductDeletedV1,
  ProductUpdatedV1,
  type CategoryState,
  type ProductState,
} from '../../src/contracts/catalog.events.js';
import type { EventEnvelope, EventTypeDefinition } from '../../src/contracts/envelope.js';
import { createEnvelope } from '../../src/contracts/registry.js';
import {
  ReviewCreatedV1,
  ReviewDeletedV1,
  ReviewUpdatedV1,
  type ReviewState,
} from '../../src/contracts/review.events.js';
import { deadLetterTopic, topicNames, topicSpecs, type Topics } from '../../src/contracts/topics.js';
import type { MessageProducer, OutgoingMessage } from '../../src/messaging/kafka.js';
import { setupTestTopics, testKafkaCredentials } from '../support/kafka.js';

/** A seeded pseudo-random generator (mulberry32), so a failing stream can be reproduced. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface StreamEvent {
  envelope: EventEnvelope;
  /** Partition key as the write services use it: product id for product and review events. */
  key: string;
}

/**
 * Writes events the way the catalog and reviews services would: every aggregate's versions grow by 1,
 * each event carries the full state. Tracks nothing about views: the model below does that.
 */
export class EventWriter {
  readonly events: StreamEvent[] = [];
  private readonly versions = new Map<string, number>();
  private readonly products = new Map<string, ProductState>();
  private readonly categories = new Map<string, CategoryState>();
  private readonly reviews = new Map<string, ReviewState>();
  // The live ids in the Maps' insertion order, kept beside them so a stream generator can pick one
  // without copying the key list per event (that made 200k-event streams take minutes).
  private readonly productOrder: string[] = [];
  private readonly reviewOrder: string[] = [];
  private tick = Date.parse('2026-01-01T00:00:00Z');

  private emit(def: EventTypeDefinition, id: string, key: string, data: unknown): StreamEvent {
    const version = (this.versions.get(id) ?? 0) + 1;
    this.versions.set(id, version);
    this.tick += 1000;
    const envelope = createEnvelope(def, {
      id: randomUUID(),
      subject: id,
      time: new Date(this.tick),
      aggregateVersion: version,
      data,
    });
    const event = { envelope, key };
    this.events.push(event);
    return event;
  }

  private now(): string {
    return new Date(this.tick).toISOString();
  }

  category(name: string, id: string = randomUUID(), description = `about ${name}`): string {
    const existing = this.categories.get(id);
    const state: CategoryState = {
      id,
      name,
      description,
      createdAt: existing?.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    this.categories.set(id, state);
    this.emit(existing ? CategoryUpdatedV1 : CategoryCreatedV1, id, id, state);
    return id;
  }

  product(
    fields: { id?: string; name?: string; categoryId?: string | null; price?: number } & Partial<
      Pick<ProductState, 'sku' | 'description' | 'attributes'>
    >,
  ): string {
    const id = fields.id ?? randomUUID();
    const existing = this.products.get(id);
    const state: ProductState = {
      id,
      sku: fields.sku ?? existing?.sku ?? `SKU-${id.slice(0, 8)}`,
      name: fields.name ?? existing?.name ?? `product ${id.slice(0, 4)}`,
      description: fields.description ?? existing?.description ?? 'a product',
      categoryId: fields.categoryId !== undefined ? fields.categoryId : (existing?.categoryId ?? null),
      price: { amount: fields.price ?? existing?.price.amount ?? 1000, currency: 'EUR' },
      attributes: fields.attributes ?? existing?.attributes ?? { color: 'red' },
      createdAt: existing?.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    if (!existing) this.productOrder.push(id);
    this.products.set(id, state);
    this.emit(existing ? ProductUpdatedV1 : ProductCreatedV1, id, id, state);
    return id;
  }

  deleteProduct(id: string): void {
    const existing = this.products.get(id);
    if (!existing) throw new Error(`no product ${id}`);
    this.products.delete(id);
    this.productOrder.splice(this.productOrder.indexOf(id), 1);
    this.emit(ProductDeletedV1, id, id, { id, categoryId: existing.categoryId, deletedAt: this.now() });
  }

  review(
    fields: { id?: string; productId?: string; rating: number } & Partial<
      Pick<ReviewState, 'author' | 'title' | 'body'>
    >,
  ): string {
    const id = fields.id ?? randomUUID();
    const existing = this.reviews.get(id);
    const productId = fields.productId ?? existing?.productId;
    if (!productId) throw new Error('a new review needs a productId');
    const state: ReviewState = {
      id,
      productId,
      author: fields.author ?? existing?.author ?? 'ann',
      rating: fields.rating,
      title: fields.title ?? existing?.title ?? 't',
      body: fields.body ?? existing?.body ?? 'b',
      createdAt: existing?.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    if (!existing) this.reviewOrder.push(id);
    this.reviews.set(id, state);
    this.emit(existing ? ReviewUpdatedV1 : ReviewCreatedV1, id, productId, state);
    return id;
  }

  deleteReview(id: string): void {
    const existing = this.reviews.get(id);
    if (!existing) throw new Error(`no review ${id}`);
    this.reviews.delete(id);
    this.reviewOrder.splice(this.reviewOrder.indexOf(id), 1);
    this.emit(ReviewDeletedV1, id, existing.productId, {
      id,
      productId: existing.productId,
      deletedAt: this.now(),
    });
  }

  liveProductIds(): string[] {
    return [...this.productOrder];
  }
  liveReviewIds(): string[] {
    return [...this.reviewOrder];
  }
  /** The live ids without a copy: valid until the next write. */
  live(kind: 'product' | 'review'): readonly string[] {
    return kind === 'product' ? this.productOrder : this.reviewOrder;
  }
}

/** A random mixed stream: categories, products (some before their category), reviews (some before their product), edits, moves, deletes. */
export function mixedStream(
  writer: EventWriter,
  random: () => number,
  size: { categories: number; products: number; reviews: number; edits: number },
): void {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const categoryIds = Array.from({ length: size.categories }, () => randomUUID());
  // Half of the categories are created up front; the rest arrive after products that use them.
  categoryIds.slice(0, Math.ceil(size.categories / 2)).forEach((id, i) => writer.category(`cat ${i}`, id));
  const productIds = Array.from({ length: size.products }, () => randomUUID());
  // A few reviews come before their product is created.
  for (const id of productIds.slice(0, 3))
    writer.review({ productId: id, rating: 1 + Math.floor(random() * 5) });
  for (const id of productIds)
    writer.product({
      id,
      categoryId: random() < 0.9 ? pick(categoryIds) : null,
      price: 100 + Math.floor(random() * 10_000),
    });
  categoryIds.slice(Math.ceil(size.categories / 2)).forEach((id, i) => writer.category(`late cat ${i}`, id));
  for (let i = 0; i < size.reviews; i++)
    writer.review({ productId: pick(productIds), rating: 1 + Math.floor(random() * 5) });
  for (let i = 0; i < size.edits; i++) {
    const roll = random();
    const products = writer.live('product');
    const reviews = writer.live('review');
    if (roll < 0.3 && products.length > 0)
      writer.product({
        id: pick(products),
        price: 100 + Math.floor(random() * 10_000),
        name: `renamed ${i}`,
      });
    else if (roll < 0.4 && products.length > 0)
      writer.product({ id: pick(products), categoryId: pick(categoryIds) });
    else if (roll < 0.5) writer.category(`renamed cat ${i}`, pick(categoryIds));
    else if (roll < 0.7 && reviews.length > 0)
      writer.review({ id: pick(reviews), rating: 1 + Math.floor(random() * 5) });
    else if (roll < 0.8 && reviews.length > 0) writer.deleteReview(pick(reviews));
    else if (roll < 0.85 && products.length > 1) writer.deleteProduct(pick(products));
    else writer.review({ productId: pick(productIds), rating: 1 + Math.floor(random() * 5) });
  }
}

export function toMessage(topics: Topics, event: StreamEvent): OutgoingMessage {
  const topic = { product: topics.products, category: topics.categories, review: topics.reviews }[
    event.envelope.aggregatetype as 'product'
  ];
  return { topic, key: event.key, value: JSON.stringify(event.envelope) };
}

export async function produce(
  producer: MessageProducer,
  topics: Topics,
  events: StreamEvent[],
  chunk = 2000,
): Promise<void> {
  for (let i = 0; i < events.length; i += chunk)
    await producer.send(events.slice(i, i + chunk).map((e) => toMessage(topics, e)));
}

/**
 * Appends a mixed stream of `size` to `writer` (its edits touch every live product and review, earlier
 * ones included) and produces just the events it appended.
 */
export async function produceMixed(
  producer: MessageProducer,
  topics: Topics,
  writer: EventWriter,
  random: () => number,
  size: Parameters<typeof mixedStream>[2],
): Promise<void> {
  const from = writer.events.length;
  mixedStream(writer, random, size);
  await produce(producer, topics, writer.events.slice(from));
}

// ---------------------------------------------------------------- the independent model of the views

/**
 * Every column of every view, in the events' terms: strings as the events carry them (compared
 * exactly), timestamps as ISO text, attributes as parsed JSON (jsonb keeps its own key order).
 */
export interface ExpectedViews {
  categories: Map<
    string,
    { name: string; description: string; createdAt: string; updatedAt: string; version: number }
  >;
  products: Map<
    string,
    {
      sku: string;
      name: string;
      description: string;
      categoryId: string | null;
      categoryName: string | null;
      price: number;
      currency: string;
      attributes: Record<string, unknown>;
      createdAt: string;
      updatedAt: string;
      version: number;
      reviewCount: number;
      ratingSum: number;
      averageRating: number | null;
      histogram: number[];
      lastReviewAt: string | null;
    }
  >;
  reviews: Map<
    string,
    {
      productId: string;
      author: string;
      rating: number;
      title: string;
      body: string;
      createdAt: string;
      updatedAt: string;
      productName: string | null;
      categoryId: string | null;
      version: number;
    }
  >;
  categorySummaries: Map<
    string,
    {
      name: string | null;
      productCount: number;
      priceMin: number | null;
      priceMax: number | null;
      priceAvg: number | null;
      reviewCount: number;
      averageRating: number | null;
    }
  >;
}

/** What the views must hold after `events`, in any order and with any duplicates: newest version wins. */
export function expectedViews(events: readonly StreamEvent[]): ExpectedViews {
  const newest = new Map<string, EventEnvelope>();
  for (const { envelope } of events) {
    const seen = newest.get(envelope.subject);
    if (!seen || envelope.aggregateversion > seen.aggregateversion) newest.set(envelope.subject, envelope);
  }
  const live = [...newest.values()].filter((e) => !e.type.includes('.deleted.'));
  const of = (type: string) => live.filter((e) => e.aggregatetype === type);
  const views: ExpectedViews = {
    categories: new Map(),
    products: new Map(),
    reviews: new Map(),
    categorySummaries: new Map(),
  };
  for (const e of of('category')) {
    const c = e.data as CategoryState;
    views.categories.set(c.id, {
      name: c.name,
      description: c.description,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
      version: e.aggregateversion,
    });
  }
  for (const e of of('product')) {
    const p = e.data as ProductState;
    views.products.set(p.id, {
      sku: p.sku,
      name: p.name,
      description: p.description,
      categoryId: p.categoryId,
      categoryName: p.categoryId ? (views.categories.get(p.categoryId)?.name ?? null) : null,
      price: p.price.amount,
      currency: p.price.currency,
      attributes: p.attributes,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
      version: e.aggregateversion,
      reviewCount: 0,
      ratingSum: 0,
      averageRating: null,
      histogram: [0, 0, 0, 0, 0],
      lastReviewAt: null,
    });
  }
  for (const e of of('review')) {
    const r = e.data as ReviewState;
    const product = views.products.get(r.productId);
    views.reviews.set(r.id, {
      productId: r.productId,
      author: r.author,
      rating: r.rating,
      title: r.title,
      body: r.body,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      productName: product?.name ?? null,
      categoryId: product?.categoryId ?? null,
      version: e.aggregateversion,
    });
    if (product) {
      product.reviewCount += 1;
      product.ratingSum += r.rating;
      product.histogram[r.rating - 1]! += 1;
      product.averageRating = roundHalfUp(product.ratingSum, product.reviewCount, 10_000);
      if (product.lastReviewAt === null || r.createdAt > product.lastReviewAt)
        product.lastReviewAt = r.createdAt;
    }
  }
  const categoryIds = new Set([
    ...views.categories.keys(),
    ...[...views.products.values()].flatMap((p) => (p.categoryId ? [p.categoryId] : [])),
  ]);
  for (const id of categoryIds) {
    const products = [...views.products.values()].filter((p) => p.categoryId === id);
    const prices = products.map((p) => p.price);
    const reviewCount = products.reduce((n, p) => n + p.reviewCount, 0);
    const ratingSum = products.reduce((n, p) => n + p.ratingSum, 0);
    views.categorySummaries.set(id, {
      name: views.categories.get(id)?.name ?? null,
      productCount: products.length,
      priceMin: prices.length ? Math.min(...prices) : null,
      priceMax: prices.length ? Math.max(...prices) : null,
      // Rounded half up at the columns' scales, in integers (numeric(14,2) and numeric(6,4)).
      priceAvg: prices.length
        ? roundHalfUp(
            prices.reduce((a, b) => a + b, 0),
            prices.length,
            100,
          )
        : null,
      reviewCount,
      averageRating: reviewCount ? roundHalfUp(ratingSum, reviewCount, 10_000) : null,
    });
  }
  return views;
}

interface CategoryRow {
  id: string;
  name: string;
  description: string;
  version: string;
  created_at: Date;
  updated_at: Date;
}
interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  category_id: string | null;
  category_name: string | null;
  price_amount: string;
  price_currency: string;
  attributes: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  version: string;
  review_count: number;
  rating_sum: number;
  average_rating: string | null;
  rating_histogram: number[];
  last_review_at: Date | null;
}
interface ReviewRow {
  id: string;
  product_id: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  created_at: Date;
  updated_at: Date;
  version: string;
  product_name: string | null;
  category_id: string | null;
}
interface CategorySummaryRow {
  category_id: string;
  name: string | null;
  product_count: number;
  price_min: number | null;
  price_max: number | null;
  price_avg: string | null;
  review_count: number;
  average_rating: string | null;
}

const iso = (at: Date | null): string | null => (at === null ? null : at.toISOString());
const numberOrNull = (value: string | number | null): number | null =>
  value === null ? null : Number(value);

/**
 * Reads every column of the views back in the model's shape. `SELECT *` on purpose: a column added to
 * a view and not to this model fails the comparison instead of going unchecked.
 */
export async function readViews(db: pg.Pool | pg.PoolClient): Promise<ExpectedViews> {
  const views: ExpectedViews = {
    categories: new Map(),
    products: new Map(),
    reviews: new Map(),
    categorySummaries: new Map(),
  };
  const columns = (row: object, known: readonly string[]) => {
    const unknown = Object.keys(row).filter((column) => !known.includes(column));
    if (unknown.length > 0) throw new Error(`view columns the model does not know: ${unknown.join(', ')}`);
  };
  for (const row of (await db.query<CategoryRow>('SELECT * FROM category_view')).rows) {
    columns(row, ['id', 'name', 'description', 'version', 'created_at', 'updated_at']);
    views.categories.set(row.id, {
      name: row.name,
      description: row.description,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
      version: Number(row.version),
    });
  }
  for (const row of (await db.query<ProductRow>('SELECT * FROM product_summary')).rows) {
    columns(row, [
      'id',
      'sku',
      'name',
      'description',
      'category_id',
      'category_name',
      'price_amount',
      'price_currency',
      'attributes',
      'created_at',
      'updated_at',
      'version',
      'review_count',
      'rating_sum',
      'average_rating',
      'rating_histogram',
      'last_review_at',
    ]);
    views.products.set(row.id, {
      sku: row.sku,
      name: row.name,
      description: row.description,
      categoryId: row.category_id,
      categoryName: row.category_name,
      price: Number(row.price_amount),
      currency: row.price_currency,
      attributes: row.attributes,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
      version: Number(row.version),
      reviewCount: row.review_count,
      ratingSum: row.rating_sum,
      averageRating: numberOrNull(row.average_rating),
      histogram: row.rating_histogram,
      lastReviewAt: iso(row.last_review_at),
    });
  }
  for (const row of (await db.query<ReviewRow>('SELECT * FROM review_view')).rows) {
    columns(row, [
      'id',
      'product_id',
      'author',
      'rating',
      'title',
      'body',
      'created_at',
      'updated_at',
      'version',
      'product_name',
      'category_id',
    ]);
    views.reviews.set(row.id, {
      productId: row.product_id,
      author: row.author,
      rating: row.rating,
      title: row.title,
      body: row.body,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
      productName: row.product_name,
      categoryId: row.category_id,
      version: Number(row.version),
    });
  }
  for (const row of (await db.query<CategorySummaryRow>('SELECT * FROM category_summary')).rows) {
    columns(row, [
      'category_id',
      'name',
      'product_count',
      'price_min',
      'price_max',
      'price_avg',
      'review_count',
      'average_rating',
    ]);
    views.categorySummaries.set(row.category_id, {
      name: row.name,
      productCount: row.product_count,
      priceMin: numberOrNull(row.price_min),
      priceMax: numberOrNull(row.price_max),
      priceAvg: numberOrNull(row.price_avg),
      reviewCount: row.review_count,
      averageRating: numberOrNull(row.average_rating),
    });
  }
  return views;
}

/** sum / count rounded half up to 1/scale, computed in integers so binary floats do not decide ties. */
export function roundHalfUp(sum: number, count: number, scale: number): number {
  return Math.floor((2 * sum * scale + count) / (2 * count)) / scale;
}

export async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The environment of a projector on the test's database, topics and group (any free port, quiet logs). */
export function projectorTestEnv(db: TestDatabase, prefix: string, group: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...db.env,
    LOCUS_TOPIC_PREFIX: prefix,
    LOCUS_PROJECTOR_GROUP: group,
    LOCUS_PROJECTOR_PORT: '0',
    LOCUS_LOG_LEVEL: 'error',
  };
}

export function projectorConfig(db: TestDatabase, prefix: string, group: string): ProjectorConfig {
  return loadConfig(PROJECTOR_SETTINGS, projectorTestEnv(db, prefix, group));
}

/** What GET /admin/rebuild answers. */
export interface RebuildStatusBody {
  state: 'idle' | 'running' | 'done' | 'failed';
  phase?: string;
  applied: number;
  total: number;
  error?: string;
}

/** Polls the projector's GET /admin/rebuild until the rebuild it started is no longer running. */
export async function rebuildFinished(
  app: ProjectorProcess['app'],
  timeoutMs = 60_000,
): Promise<RebuildStatusBody> {
  let status: RebuildStatusBody = { state: 'running', applied: 0, total: 0 };
  await waitFor(
    'rebuild',
    async () => {
      status = (
        await app.inject({ method: 'GET', url: '/admin/rebuild', headers: authHeaders() })
      ).json<RebuildStatusBody>();
      return status.state !== 'running';
    },
    timeoutMs,
  );
  return status;
}

/** True once the consumer's stored positions reach every partition's end offset. */
export async function caughtUp(
  db: pg.Pool,
  broker: Broker,
  topics: Topics,
  consumer: string,
): Promise<boolean> {
  const ends = (
    await Promise.all([topics.products, topics.categories, topics.reviews].map((t) => broker.endOffsets(t)))
  ).flat();
  const stored = await db.query<{ topic: string; partition: number; next_offset: string }>(
    'SELECT topic, partition, next_offset FROM projector_positions WHERE consumer = $1',
    [consumer],
  );
  const at = new Map(stored.rows.map((r) => [`${r.topic}/${r.partition}`, Number(r.next_offset)]));
  return ends.every((end) => (at.get(`${end.topic}/${end.partition}`) ?? 0) >= Number(end.offset));
}

export interface ProjectorTestbed {
  db: TestDatabase;
  pool: pg.Pool;
  broker: Broker;
  producer: MessageProducer;
  /** Deletes the topics (dead-letter topic included), closes the clients, drops the database. */
  close(): Promise<void>;
}

/**
 * What every projector integration test stands on: a read-store database of its own, a pool on it,
 * the topics of `prefix` created, and a producer to write events into them.
 */
export async function openProjectorTestbed(options: {
  prefix: string;
  clientId: string;
  poolSize: number;
  logger: Parameters<typeof createBroker>[0]['logger'];
}): Promise<ProjectorTestbed> {
  const topics = topicNames(options.prefix);
  // Topics and ACLs as `locus migrate` sets them up, so a projector under test runs as its own user.
  await setupTestTopics(options.prefix);
  const db = await createTestDatabase('readmodel');
  const pool = new pg.Pool({ connectionString: db.url, max: options.poolSize });
  const broker = createBroker({
    brokers: process.env.LOCUS_KAFKA_BROKERS!,
    credentials: testKafkaCredentials(),
    clientId: options.clientId,
    logger: options.logger,
  });
  await broker.ensureTopics(topicSpecs(topics));
  const producer = await broker.producer();
  return {
    db,
    pool,
    broker,
    producer,
    async close() {
      await producer.close();
      await broker.deleteTopics([
        topics.products,
        topics.categories,
        topics.reviews,
        deadLetterTopic(options.prefix),
      ]);
      await broker.close();
      await pool.end();
      await db.drop();
    },
  };
}

// ---------------------------------------------------------------- projectors as real processes

/**
 * The real composition root in its own process, as `locus projector run` starts it, on the test's
 * database, topics and group; `env` adds or overrides settings (crash and pause points, ports).
 */
export function spawnProjector(
  db: TestDatabase,
  prefix: string,
  group: string,
  env: Record<string, string> = {},
): ChildProcess {
  return spawnProjectorCommand(['run'], db, prefix, group, env);
}

/** `locus projector <args…>` (run, rebuild, dlq …) in its own process, as spawnProjector does it. */
export function spawnProjectorCommand(
  args: readonly string[],
  db: TestDatabase,
  prefix: string,
  group: string,
  env: Record<string, string> = {},
): ChildProcess {
  return spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'projector', ...args], {
    env: { ...projectorTestEnv(db, prefix, group), ...env },
    // DEBUG_CHILD=1 shows the child's logs when a test needs explaining
    stdio: process.env.DEBUG_CHILD ? 'inherit' : 'ignore',
  });
}

/** Resolves with the signal (or `exit code N`) the child ended with, or 'still running' after `timeoutMs`. */
export function exitOf(child: ChildProcess, timeoutMs: number): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.signalCode ?? `exit code ${child.exitCode}`);
  return new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('still running'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ?? `exit code ${code}`);
    });
  });
}

/** True while the process is stopped (SIGSTOP, a pause point): `ps` shows its state as T. */
export function isStopped(pid: number): boolean {
  try {
    return execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' })
      .trim()
      .startsWith('T');
  } catch {
    return false; // no such process
  }
}

/** Next offsets stored for `consumer`, summed over its partitions: how far it has committed. */
export async function storedTotal(db: pg.Pool, consumer: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT coalesce(sum(next_offset), 0) AS n FROM projector_positions WHERE consumer = $1',
    [consumer],
  );
  return Number(rows[0]?.n ?? 0);
}
