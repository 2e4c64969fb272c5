import type { Db } from 'mongodb';
import type pg from 'pg';
import type { ReviewState } from '../contracts/review.events.js';
import { isDeletion, reviewCollections } from '../reviews/review.model.js';
import { copyPaged, estimateRows, insertJsonRows, type ChunkOptions } from './paged-copy.js';

export interface SourceCounts {
  categories: number;
  products: number;
  /** Live reviews: deleted ones are not counted. */
  reviews: number;
}

/**
 * The sources, as temporary tables of the read-primary session verify runs in (gone when the session
 * ends): `src_categories` and `src_products` as the catalog store holds them, `src_reviews` the live
 * reviews. Streamed in chunks, so verify's memory does not grow with the data.
 */
const SOURCE_TABLES = `
  CREATE TEMP TABLE src_categories (id uuid PRIMARY KEY, name text, description text, version bigint,
    created_at timestamptz, updated_at timestamptz);
  CREATE TEMP TABLE src_products (id uuid PRIMARY KEY, sku text, name text, description text,
    category_id uuid, price_amount bigint, price_currency text, attributes jsonb, version bigint,
    created_at timestamptz, updated_at timestamptz);
  CREATE TEMP TABLE src_review_versions (id uuid, version bigint, deleted boolean, product_id uuid,
    author text, rating int, title text, body text, created_at timestamptz, updated_at timestamptz);`;

/**
 * Loads the sources into the temporary tables of `readSession`: the catalog from one read-only
 * snapshot of the catalog store, the reviews from the reviews store (see loadReviews).
 */
export async function loadSources(
  readSession: pg.ClientBase,
  catalog: pg.Pool,
  reviews: Db,
  options: ChunkOptions,
): Promise<SourceCounts> {
  await readSession.query(SOURCE_TABLES);
  const [categories, products] = await loadCatalog(readSession, catalog, options);
  return { categories, products, reviews: await loadReviews(readSession, reviews, options) };
}

async function loadCatalog(
  readSession: pg.ClientBase,
  catalog: pg.Pool,
  options: ChunkOptions,
): Promise<[number, number]> {
  const client = await catalog.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const categories = await copyPaged(
      client,
      readSession,
      {
        step: 'categories',
        columns: 'id, name, description, version, created_at, updated_at',
        table: 'categories',
        key: 'id',
        target: 'src_categories',
      },
      options,
    );
    const products = await copyPaged(
      client,
      readSession,
      {
        step: 'products',
        columns: `id, sku, name, description, category_id, price_amount, price_currency, attributes, version,
                  created_at, updated_at`,
        table: 'products',
        key: 'id',
        target: 'src_products',
      },
      options,
    );
    await client.query('COMMIT');
    return [categories, products];
  } finally {
    client.release();
  }
}

/** Documents per cursor batch: FerretDB v1 read 100,000 reviews in 34 s by 1,000, in 75 s by 5,000. */
const MONGO_BATCH = 1_000;

/** One version of a review, as `src_review_versions` holds it. */
interface ReviewVersionRow {
  id: string;
  version: number;
  deleted: boolean;
  product_id: string;
  author?: string;
  rating?: number;
  title?: string;
  body?: string;
  created_at?: string;
  updated_at?: string;
}

/**
 * The live reviews as the reviews store has committed them. The `reviews` documents hold the current
 * state of every review (a tombstone, `deletedAt`, once deleted) and are what survives: the relay
 * purges published events after its retention period. A document may lag its newest event (a writer
 * crashed between the event insert, the commit point, and the document update; the relay repairs it
 * before it publishes, so that event is never purged first), so the events still there are read as
 * well and the newest version of each review wins. Both are read by cursor, a chunk at a time.
 * @returns the number of live reviews.
 */
async function loadReviews(readSession: pg.ClientBase, db: Db, options: ChunkOptions): Promise<number> {
  const { reviews, events } = reviewCollections(db);
  // FerretDB v1 counts a collection by reading it (24 s for 100,000 reviews), so the progress total is
  // the planner's estimate of review_view, and small cursor batches come back sooner than large ones.
  const estimate = await estimateRows(readSession, 'review_view');
  const batchSize = Math.min(options.chunkSize, MONGO_BATCH);
  await loadChunked(readSession, 'reviews', estimate, reviews.find({}, { batchSize }), options, (doc) =>
    versionRow(doc._id, doc.version, doc.deletedAt !== undefined, doc),
  );
  const eventCursor = events.find(
    {},
    { batchSize, projection: { _id: 0, reviewId: 1, version: 1, 'envelope.data': 1 } },
  );
  await loadChunked(readSession, 'review events', estimate, eventCursor, options, (event) => {
    const data = event.envelope.data;
    return isDeletion(data)
      ? { id: event.reviewId, version: event.version, deleted: true, product_id: data.productId }
      : versionRow(event.reviewId, event.version, false, data);
  });
  await readSession.query(`
    CREATE TEMP TABLE src_reviews AS
      SELECT id, product_id, author, rating, title, body, version, created_at, updated_at
      FROM (SELECT DISTINCT ON (id) * FROM src_review_versions ORDER BY id, version DESC) newest
      WHERE NOT deleted;
    ALTER TABLE src_reviews ADD PRIMARY KEY (id);`);
  const { rows } = await readSession.query<{ n: number }>('SELECT count(*)::int AS n FROM src_reviews');
  return rows[0]?.n ?? 0;
}

function versionRow(
  id: string,
  version: number,
  deleted: boolean,
  state: Omit<ReviewState, 'id'>,
): ReviewVersionRow {
  return {
    id,
    version,
    deleted,
    product_id: state.productId,
    author: state.author,
    rating: state.rating,
    title: state.title,
    body: state.body,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
  };
}

async function loadChunked<T>(
  readSession: pg.ClientBase,
  step: string,
  total: number,
  cursor: AsyncIterable<T>,
  options: ChunkOptions,
  toRow: (document: T) => ReviewVersionRow,
): Promise<void> {
  let chunk: ReviewVersionRow[] = [];
  let done = 0;
  const flush = async () => {
    await insertJsonRows(readSession, 'src_review_versions', JSON.stringify(chunk));
    done += chunk.length;
    chunk = [];
    options.onProgress?.({ step, done, total: Math.max(total, done) });
  };
  for await (const document of cursor) {
    chunk.push(toRow(document));
    if (chunk.length >= options.chunkSize) await flush();
  }
  if (chunk.length > 0) await flush();
}
