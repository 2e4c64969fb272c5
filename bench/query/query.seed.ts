import { viewTables } from '../../src/projector/projection.types.js';
import { refillRollupsStatements } from '../../src/projector/views/rollups.view.js';
import { createPool } from '../../src/shared/postgres.js';
import { connectToReplica, waitForReplay } from '../lib/replica.js';

/**
 * Seeds the views set-wise on the primary (50 categories, `products` products, `reviews` reviews with
 * their product's aggregates and the rollups), analyzes, then waits until the replica has replayed it all. Returns
 * the product ids.
 */
export async function seedViews(
  primaryUrl: string,
  replicaUrl: string,
  size: { products: number; reviews: number },
): Promise<string[]> {
  const pool = createPool(primaryUrl, { applicationName: 'locus-bench-query', max: 1 });
  try {
    await pool.query(`INSERT INTO category_view (id, name, version, created_at, updated_at)
      SELECT gen_random_uuid(), 'Category ' || g, 1, now(), now() FROM generate_series(1, 50) g`);
    await pool.query(
      `WITH categories AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(name ORDER BY id) AS names FROM category_view)
       INSERT INTO product_summary (id, sku, name, description, category_id, category_name, price_amount, price_currency,
         attributes, created_at, updated_at, version)
       SELECT gen_random_uuid(), 'SKU-' || g, 'Product ' || g, 'A product of the query benchmark',
              c.ids[1 + g % 50], c.names[1 + g % 50], (random() * 20000)::int, 'EUR', '{"colour": "red"}',
              now() - g * interval '1 minute', now(), 1
       FROM generate_series(1, $1::int) g, categories c`,
      [size.products],
    );
    await pool.query(
      `WITH products AS (SELECT array_agg(id ORDER BY id) AS ids FROM product_summary)
       INSERT INTO review_view (id, product_id, author, rating, title, body, created_at, updated_at, version)
       SELECT gen_random_uuid(), p.ids[1 + g % $2::int], 'author ' || (g % 1000), 1 + (g % 5), 'title', 'body',
              now() - (g % 80) * interval '1 day', now(), 1
       FROM generate_series(1, $1::int) g, products p`,
      [size.reviews, size.products],
    );
    await pool.query(`UPDATE product_summary p SET review_count = s.n, rating_sum = s.s, average_rating = round(s.s::numeric / s.n, 4)
      FROM (SELECT product_id, count(*) n, sum(rating) s FROM review_view GROUP BY product_id) s WHERE s.product_id = p.id`);
    // The rollups the projector would keep beside these views (the heavy queries read them).
    for (const statement of refillRollupsStatements(viewTables()))
      await pool.query(statement.text, [...statement.values]);
    await pool.query('ANALYZE');
    const { rows } = await pool.query<{ id: string }>('SELECT id FROM product_summary');
    const replica = await connectToReplica(replicaUrl);
    try {
      await waitForReplay(pool, replica);
    } finally {
      await replica.end();
    }
    return rows.map((row) => row.id);
  } finally {
    await pool.end();
  }
}
