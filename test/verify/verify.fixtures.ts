import { MongoClient, type Db } from 'mongodb';
import pg from 'pg';
import type { CategoryState, ProductState } from '../../src/contracts/catalog.events.js';
import type { EventEnvelope } from '../../src/contracts/envelope.js';
import { applyChanges } from '../../src/projector/apply-changes.js';
import { toChange } from '../../src/projector/batch/decode.js';
import { VIEW_TABLE_NAMES, viewTables, withTransaction } from '../../src/projector/projection.types.js';
import {
  ensureReviewIndexes,
  laneOf,
  nextSequence,
  reviewCollections,
  slotOf,
  type ReviewEventData,
  type ReviewEventDocument,
} from '../../src/reviews/review.model.js';
import { applyEvent, commitEvent } from '../../src/reviews/review.repository.js';
import { createPool } from '../../src/shared/postgres.js';
import type { VerifyUrls } from '../../src/verify/verify.command.js';
import { createTestDatabase, uniqueMongoUrl, type TestDatabase } from '../../testkit/isolation.js';
import type { EventWriter } from '../../testkit/events.js';

/** The three stores `locus verify` reads, fresh for one test: catalog db, read db, reviews database. */
export interface Deployment {
  catalogDb: TestDatabase;
  readDb: TestDatabase;
  mongoUrl: string;
  mongo: MongoClient;
  reviewsDb: Db;
  urls(overrides?: Partial<VerifyUrls>): VerifyUrls;
  drop(): Promise<void>;
}

export async function createDeployment(): Promise<Deployment> {
  const [catalogDb, readDb] = await Promise.all([
    createTestDatabase('catalog'),
    createTestDatabase('readmodel'),
  ]);
  const { url: mongoUrl } = uniqueMongoUrl();
  const mongo = await MongoClient.connect(mongoUrl);
  const reviewsDb = mongo.db();
  await ensureReviewIndexes(reviewsDb);
  return {
    catalogDb,
    readDb,
    mongoUrl,
    mongo,
    reviewsDb,
    urls: (overrides = {}) => ({
      catalog: catalogDb.url,
      mongo: mongoUrl,
      readPrimary: readDb.url,
      ...overrides,
    }),
    async drop() {
      await reviewsDb.dropDatabase().catch(() => undefined);
      await Promise.allSettled([mongo.close(), catalogDb.drop(), readDb.drop()]);
    },
  };
}

/**
 * Puts the writer's stream where the write services and the projector would: the catalog rows in the
 * catalog store, each review event committed and its document brought up to date in the reviews store
 * (except the events of `lagging` reviews, whose document stays one version behind, as after a writer
 * crash between the event insert and the document update), and every event applied to the views by
 * the projector's own code.
 */
export async function seed(
  deployment: Deployment,
  writer: EventWriter,
  options: { lagging?: ReadonlySet<string> } = {},
): Promise<void> {
  const catalog = new pg.Client({ connectionString: deployment.catalogDb.url });
  await catalog.connect();
  const sequences = new Map<string, number>();
  try {
    for (const { envelope } of writer.events) {
      if (envelope.aggregatetype === 'review') {
        const event = reviewEvent(envelope, sequences.get(envelope.subject) ?? 0);
        sequences.set(envelope.subject, event.sequence);
        await commitEvent(deployment.reviewsDb, event);
        if (!options.lagging?.has(event.reviewId) || event.version === 1)
          await applyEvent(deployment.reviewsDb, event);
      } else {
        await writeCatalogRow(catalog, envelope);
      }
    }
  } finally {
    await catalog.end();
  }
  const pool = createPool(deployment.readDb.url, { applicationName: 'verify-test-seed', max: 1 });
  try {
    await withTransaction(pool, (tx) =>
      applyChanges(
        tx,
        viewTables(),
        writer.events.map((e) => toChange(e.envelope)),
      ),
    );
  } finally {
    await pool.end();
  }
}

function reviewEvent(envelope: EventEnvelope, previousSequence: number): ReviewEventDocument {
  const data = envelope.data as ReviewEventData;
  const now = new Date(envelope.time);
  const sequence = nextSequence(now, previousSequence);
  return {
    _id: envelope.id,
    reviewId: envelope.subject,
    version: envelope.aggregateversion,
    productId: data.productId,
    lane: laneOf(data.productId),
    sequence,
    slot: slotOf(sequence),
    envelope: envelope as EventEnvelope<ReviewEventData>,
    recordedAt: now,
  };
}

async function writeCatalogRow(catalog: pg.Client, envelope: EventEnvelope): Promise<void> {
  const version = envelope.aggregateversion;
  if (envelope.aggregatetype === 'category') {
    const c = envelope.data as CategoryState;
    await catalog.query(
      `INSERT INTO categories (id, name, description, version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET name = $2, description = $3, version = $4, updated_at = $6`,
      [c.id, c.name, c.description, version, c.createdAt, c.updatedAt],
    );
  } else if (envelope.type.includes('.deleted.')) {
    await catalog.query('DELETE FROM products WHERE id = $1', [envelope.subject]);
  } else {
    const p = envelope.data as ProductState;
    await catalog.query(
      `INSERT INTO products (id, sku, name, description, category_id, price_amount, price_currency,
         attributes, version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (id) DO UPDATE SET sku = $2, name = $3, description = $4, category_id = $5,
         price_amount = $6, price_currency = $7, attributes = $8, version = $9, updated_at = $11`,
      [
        p.id,
        p.sku,
        p.name,
        p.description,
        p.categoryId,
        p.price.amount,
        p.price.currency,
        JSON.stringify(p.attributes),
        version,
        p.createdAt,
        p.updatedAt,
      ],
    );
  }
}

/** What the relay's retention purge leaves once every event is published and old: no events at all. */
export async function purgeReviewEvents(db: Db): Promise<number> {
  const { deletedCount } = await reviewCollections(db).events.deleteMany({});
  await reviewCollections(db).outbox.deleteMany({});
  return deletedCount;
}

/** The views, without the projector's version bookkeeping. */
const VIEW_TABLES = VIEW_TABLE_NAMES.filter((table) => table !== 'applied_versions');

/** Copies every view row of one read database into another (same migrations), table by table. */
export async function copyViews(fromUrl: string, toUrl: string): Promise<void> {
  for (const table of VIEW_TABLES) {
    const [copied] = await onDatabase<{ rows: string }>(
      fromUrl,
      `SELECT coalesce(json_agg(t), '[]')::text AS rows FROM ${table} t`,
    );
    await onDatabase(
      toUrl,
      `INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1)`,
      [copied!.rows],
    );
  }
}

/** Runs SQL on a database and closes the connection. */
export async function onDatabase<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
