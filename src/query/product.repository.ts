import type { CategorySummaryRow, ProductSummaryRow, ReviewViewRow } from '../shared/read-store.tables.js';
import { encodeCursor, type Cursor } from './cursor.js';
import type { Queryable } from './read-store.js';

/** A product as the query service serves it. */
export interface ProductView {
  id: string;
  sku: string;
  name: string;
  description: string;
  categoryId: string | null;
  categoryName: string | null;
  price: { amount: number; currency: string };
  attributes: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  version: number;
  reviewCount: number;
  averageRating: number | null;
  ratingHistogram: number[];
  lastReviewAt: string | null;
}

/** A product_summary row as PRODUCT_COLUMNS selects it: without rating_sum, with created_us. */
type ProductRecord = Omit<ProductSummaryRow, 'rating_sum'> & { created_us: number };

const PRODUCT_COLUMNS = `id, sku, name, description, category_id, category_name, price_amount, price_currency,
  attributes, created_at, updated_at, version, review_count, average_rating::text AS average_rating,
  rating_histogram, last_review_at, (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint AS created_us`;

function toProductView(row: ProductRecord): ProductView {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    description: row.description,
    categoryId: row.category_id,
    categoryName: row.category_name,
    price: { amount: row.price_amount, currency: row.price_currency },
    attributes: row.attributes,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    version: row.version,
    reviewCount: row.review_count,
    averageRating: row.average_rating === null ? null : Number(row.average_rating),
    ratingHistogram: row.rating_histogram,
    lastReviewAt: row.last_review_at?.toISOString() ?? null,
  };
}

export async function findProduct(db: Queryable, id: string): Promise<ProductView | undefined> {
  const { rows } = await db.query<ProductRecord>({
    name: 'locus_find_product',
    text: `SELECT ${PRODUCT_COLUMNS} FROM product_summary WHERE id = $1`,
    values: [id],
  });
  return rows[0] && toProductView(rows[0]);
}

type ProductSort = 'rating' | 'price' | 'newest';

export interface ProductFilter {
  categoryId?: string;
  minPrice?: number;
  maxPrice?: number;
  minRating?: number;
  sort: ProductSort;
  limit: number;
  after?: Cursor;
}

/**
 * Orderings and their keyset conditions. Each ends in `id` so the order is total; `$k` is the cursor's
 * sort key and `$id` its id. Rating keeps unrated products last (NULLS LAST), so its condition
 * distinguishes a cursor that stopped among rated products from one already among the unrated.
 */
const ORDERINGS: Record<ProductSort, { orderBy: string; after: (key: Cursor['key']) => string }> = {
  rating: {
    orderBy: 'average_rating DESC NULLS LAST, id',
    after: (key) =>
      key === null
        ? '(average_rating IS NULL AND id > $id)'
        : '(average_rating < $k::numeric OR (average_rating = $k::numeric AND id > $id) OR average_rating IS NULL)',
  },
  price: { orderBy: 'price_amount, id', after: () => '((price_amount, id) > ($k::bigint, $id))' },
  newest: {
    orderBy: 'created_at DESC, id',
    after: () =>
      "(created_at < TIMESTAMPTZ 'epoch' + $k::bigint * INTERVAL '1 microsecond' OR (created_at = TIMESTAMPTZ 'epoch' + $k::bigint * INTERVAL '1 microsecond' AND id > $id))",
  },
};

function sortKey(row: ProductRecord, sort: ProductSort): Cursor['key'] {
  if (sort === 'rating') return row.average_rating;
  if (sort === 'price') return row.price_amount;
  return row.created_us;
}

/**
 * One page of products matching the filter, in the filter's order, after the cursor.
 * Every value reaches SQL as a bound parameter; only fixed fragments are concatenated.
 * @returns the page and the cursor of its last row when more may follow.
 */
export async function listProducts(
  db: Queryable,
  filter: ProductFilter,
): Promise<{ items: ProductView[]; nextCursor: string | null }> {
  const values: unknown[] = [];
  const bind = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const where: string[] = [];
  if (filter.categoryId !== undefined) where.push(`category_id = ${bind(filter.categoryId)}`);
  if (filter.minPrice !== undefined) where.push(`price_amount >= ${bind(filter.minPrice)}`);
  if (filter.maxPrice !== undefined) where.push(`price_amount <= ${bind(filter.maxPrice)}`);
  if (filter.minRating !== undefined) where.push(`average_rating >= ${bind(filter.minRating)}`);
  const ordering = ORDERINGS[filter.sort];
  if (filter.after) {
    const key = filter.after.key === null ? '' : bind(filter.after.key);
    const id = bind(filter.after.id);
    where.push(
      ordering
        .after(filter.after.key)
        .replaceAll('$k', () => key)
        .replaceAll('$id', () => id),
    );
  }
  const limit = bind(filter.limit + 1);
  const { rows } = await db.query<ProductRecord>(
    `SELECT ${PRODUCT_COLUMNS} FROM product_summary
     ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY ${ordering.orderBy} LIMIT ${limit}`,
    values,
  );
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return {
    items: page.map(toProductView),
    nextCursor:
      rows.length > filter.limit && last
        ? encodeCursor({ sort: filter.sort, key: sortKey(last, filter.sort), id: last.id })
        : null,
  };
}

export interface ReviewView {
  id: string;
  productId: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}

type ReviewRecord = Omit<ReviewViewRow, 'product_name' | 'category_id'> & { created_us: number };

export const REVIEWS_SORT = 'reviews';

/**
 * One page of a product's reviews, newest first (ties by id), after the cursor; undefined when the
 * product is not in the view.
 */
export async function listReviews(
  db: Queryable,
  productId: string,
  limit: number,
  after?: Cursor,
): Promise<{ items: ReviewView[]; nextCursor: string | null } | undefined> {
  const exists = await db.query('SELECT 1 FROM product_summary WHERE id = $1', [productId]);
  if (exists.rowCount === 0) return undefined;
  const values: unknown[] = [productId, limit + 1];
  let keyset = '';
  if (after) {
    values.push(after.key, after.id);
    keyset = `AND (created_at < TIMESTAMPTZ 'epoch' + $3::bigint * INTERVAL '1 microsecond'
              OR (created_at = TIMESTAMPTZ 'epoch' + $3::bigint * INTERVAL '1 microsecond' AND id > $4))`;
  }
  const { rows: reviews } = await db.query<ReviewRecord>(
    `SELECT id, product_id, author, rating, title, body, created_at, updated_at, version,
            (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint AS created_us
     FROM review_view WHERE product_id = $1 ${keyset}
     ORDER BY created_at DESC, id LIMIT $2`,
    values,
  );
  const page = reviews.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => ({
      id: row.id,
      productId: row.product_id,
      author: row.author,
      rating: row.rating,
      title: row.title,
      body: row.body,
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
      version: row.version,
    })),
    nextCursor:
      reviews.length > limit && last
        ? encodeCursor({ sort: REVIEWS_SORT, key: last.created_us, id: last.id })
        : null,
  };
}

export interface CategorySummaryView {
  categoryId: string;
  name: string | null;
  productCount: number;
  priceMin: number | null;
  priceMax: number | null;
  priceAvg: number | null;
  reviewCount: number;
  averageRating: number | null;
}

export async function findCategorySummary(
  db: Queryable,
  categoryId: string,
): Promise<CategorySummaryView | undefined> {
  const { rows } = await db.query<CategorySummaryRow>(
    `SELECT category_id, name, product_count, price_min, price_max, price_avg::text AS price_avg, review_count,
            average_rating::text AS average_rating
     FROM category_summary WHERE category_id = $1`,
    [categoryId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    categoryId: row.category_id,
    name: row.name,
    productCount: row.product_count,
    priceMin: row.price_min,
    priceMax: row.price_max,
    priceAvg: row.price_avg === null ? null : Number(row.price_avg),
    reviewCount: row.review_count,
    averageRating: row.average_rating === null ? null : Number(row.average_rating),
  };
}
