import type { ViewModule } from '../projection.types.js';
import { arrayLiteral, sql, type Statement } from '../../shared/postgres.js';

/**
 * category_summary: recomputed from category_view and product_summary for every category the batch
 * touched: changed categories, the old and new categories of changed products, and the categories of
 * products whose reviews changed. A row with neither a category nor products is removed.
 */
export const categorySummaryView: ViewModule = {
  name: 'category_summary',
  handles: ['category', 'product', 'review'],
  statements(changes, tables) {
    const statements: Statement[] = [];
    const explicit = new Set<string>([...changes.categories.map((c) => c.id), ...changes.productCategoryIds]);
    if (explicit.size === 0 && changes.touchedProductIds.length === 0) return statements;
    statements.push(
      sql(
        `WITH touched AS (
         SELECT unnest($1::uuid[]) AS id
         UNION
         SELECT category_id FROM ${tables.productSummary}
         WHERE id = ANY($2::uuid[]) AND category_id IS NOT NULL
       ), computed AS (
         SELECT t.id AS category_id, c.name,
           count(p.id)::int AS product_count,
           min(p.price_amount) AS price_min, max(p.price_amount) AS price_max,
           round(avg(p.price_amount), 2) AS price_avg,
           coalesce(sum(p.review_count), 0)::int AS review_count,
           CASE WHEN sum(p.review_count) > 0
             THEN round(sum(p.rating_sum)::numeric / sum(p.review_count), 4) END AS average_rating
         FROM touched t
         LEFT JOIN ${tables.categoryView} c ON c.id = t.id
         LEFT JOIN ${tables.productSummary} p ON p.category_id = t.id
         GROUP BY t.id, c.name
       ), removed AS (
         DELETE FROM ${tables.categorySummary} s USING computed x
         WHERE s.category_id = x.category_id AND x.name IS NULL AND x.product_count = 0
       )
       INSERT INTO ${tables.categorySummary} AS s (category_id, name, product_count, price_min, price_max,
         price_avg, review_count, average_rating)
       SELECT * FROM computed WHERE name IS NOT NULL OR product_count > 0
       ON CONFLICT (category_id) DO UPDATE SET name = excluded.name, product_count = excluded.product_count,
         price_min = excluded.price_min, price_max = excluded.price_max, price_avg = excluded.price_avg,
         review_count = excluded.review_count, average_rating = excluded.average_rating`,
        [arrayLiteral([...explicit]), arrayLiteral(changes.touchedProductIds)],
      ),
    );
    return statements;
  },
};
