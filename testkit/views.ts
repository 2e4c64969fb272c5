// The views as the read store holds them, read back in the model's shape (testkit/model.ts).
import type { Selectable } from 'kysely';
import type pg from 'pg';
import type {
  CategorySummaryRow,
  ProductSummaryRow,
  ReadStoreDb,
  ReviewViewRow,
} from '../src/shared/read-store.tables.js';
import type { ExpectedViews } from './model.js';

type CategoryRow = Selectable<ReadStoreDb['category_view']>;

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
  const columns = <Row extends object>(row: Row, known: readonly (keyof Row & string)[]) => {
    const unknown = Object.keys(row).filter((column) => !(known as readonly string[]).includes(column));
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
  for (const row of (await db.query<ProductSummaryRow>('SELECT * FROM product_summary')).rows) {
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
  for (const row of (await db.query<ReviewViewRow>('SELECT * FROM review_view')).rows) {
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
