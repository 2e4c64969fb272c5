import type pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { ProductSummaryRow, ReviewViewRow } from '../shared/read-store.tables.js';
import type { RowSource } from './analytics.aggregate.js';
import type { CategoryRow, ProductRow, ReviewRow, Window } from './analytics.types.js';

async function* streamRows<R, T>(
  client: pg.PoolClient,
  text: string,
  values: unknown[],
  map: (row: R) => T,
): AsyncGenerator<T> {
  const stream = client.query(new QueryStream(text, values, { batchSize: 2000 }));
  try {
    for await (const row of stream as AsyncIterable<R>) yield map(row);
  } finally {
    stream.destroy();
  }
}

/**
 * Service-join rows: the raw rows of the replica's product_summary, category_view and review_view,
 * streamed through server-side cursors on one connection (one snapshot). Only the window filter is
 * pushed down; the join (review → product → category) and every aggregate happen in this process, and
 * review_view's denormalised product columns are not read.
 */
export function replicaRowSource(client: pg.PoolClient): RowSource {
  return {
    products: () =>
      streamRows(
        client,
        'SELECT id, sku, name, category_id, price_amount, price_currency FROM product_summary',
        [],
        (
          row: Pick<
            ProductSummaryRow,
            'id' | 'sku' | 'name' | 'category_id' | 'price_amount' | 'price_currency'
          >,
        ): ProductRow => ({
          id: row.id,
          sku: row.sku,
          name: row.name,
          categoryId: row.category_id,
          priceAmount: row.price_amount,
          priceCurrency: row.price_currency,
        }),
      ),
    categories: () =>
      streamRows(client, 'SELECT id, name FROM category_view', [], (row: CategoryRow): CategoryRow => row),
    reviews: (window: Window) =>
      streamRows(
        client,
        `SELECT id, product_id, author, rating, title, body, created_at FROM review_view
         WHERE created_at >= $1 AND created_at < $2 ORDER BY id`,
        [window.from, window.to],
        (
          row: Pick<
            ReviewViewRow,
            'id' | 'product_id' | 'author' | 'rating' | 'title' | 'body' | 'created_at'
          >,
        ): ReviewRow => ({
          id: row.id,
          productId: row.product_id,
          author: row.author,
          rating: row.rating,
          title: row.title,
          body: row.body,
          createdAt: row.created_at,
        }),
      ),
  };
}
