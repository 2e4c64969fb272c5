import type { Db } from 'mongodb';
import type pg from 'pg';
import type { ReviewDeleted, ReviewState } from '../contracts/review.events.js';

export interface SourceCategory {
  id: string;
  name: string;
  description: string;
  version: number;
}

export interface SourceProduct {
  id: string;
  sku: string;
  name: string;
  description: string;
  category_id: string | null;
  price_amount: number;
  price_currency: string;
  attributes: unknown;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface SourceReview {
  id: string;
  product_id: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  version: number;
  created_at: string;
  updated_at: string;
}

/** Everything the catalog store holds that the views reflect, read in one snapshot. */
export async function readCatalog(
  pool: pg.Pool,
): Promise<{ categories: SourceCategory[]; products: SourceProduct[] }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const categories = await client.query<SourceCategory>(
      'SELECT id, name, description, version FROM categories',
    );
    const products = await client.query<SourceProduct>(
      `SELECT id, sku, name, description, category_id, price_amount, price_currency, attributes, version,
              to_json(created_at) #>> '{}' AS created_at, to_json(updated_at) #>> '{}' AS updated_at
       FROM products`,
    );
    await client.query('COMMIT');
    return { categories: categories.rows, products: products.rows };
  } finally {
    client.release();
  }
}

interface EventRecord {
  reviewId: string;
  version: number;
  envelope: { data: ReviewState | ReviewDeleted };
}

/**
 * The live reviews as the reviews store has committed them. The event log (`review_events`), not the
 * `reviews` documents, is the truth: an event insert is the commit point and a document may lag it
 * after a crash. So: the newest event of each review, minus the deleted ones. Reads every event once.
 */
export async function readReviews(db: Db): Promise<SourceReview[]> {
  const newest = new Map<string, EventRecord>();
  const cursor = db
    .collection<EventRecord>('review_events')
    .find({}, { projection: { _id: 0, reviewId: 1, version: 1, envelope: 1 } });
  for await (const event of cursor) {
    const known = newest.get(event.reviewId);
    if (!known || event.version > known.version) newest.set(event.reviewId, event);
  }
  const reviews: SourceReview[] = [];
  for (const { version, envelope } of newest.values()) {
    const data = envelope.data;
    if (!('rating' in data)) continue; // deleted
    reviews.push({
      id: data.id,
      product_id: data.productId,
      author: data.author,
      rating: data.rating,
      title: data.title,
      body: data.body,
      version,
      created_at: data.createdAt,
      updated_at: data.updatedAt,
    });
  }
  return reviews;
}
