import type { AcceptedChanges, ViewModule, ViewTables } from '../projection.types.js';
import { arrayLiteral, statement, type Statement } from '../../shared/postgres.js';

/**
 * Which category summaries a batch changes: the changed categories, the old and new categories of
 * changed products, and the categories (read from product_summary) of the products whose ratings moved.
 */
export interface SummaryScope {
  categoryIds: string[];
  productIds: string[];
}

export function summaryScopeOf(changes: AcceptedChanges): SummaryScope {
  return {
    categoryIds: [...new Set([...changes.categories.map((c) => c.id), ...changes.productCategoryIds])],
    productIds: changes.touchedProductIds,
  };
}

/** The categories a scope names, resolved in the store; for the statement and the query alike. */
function touchedCategories(tables: ViewTables): string {
  return `SELECT unnest($1::uuid[]) AS id
         UNION
         SELECT category_id FROM ${tables.productSummary}
         WHERE id = ANY($2::uuid[]) AND category_id IS NOT NULL`;
}

/** The ids of the categories `scope` touches, as a statement (summaries recomputed one by one). */
export function touchedCategoriesStatement(tables: ViewTables, scope: SummaryScope): Statement {
  return statement(`SELECT id::text FROM (${touchedCategories(tables)}) t`, [
    arrayLiteral(scope.categoryIds),
    arrayLiteral(scope.productIds),
  ]);
}

/**
 * Recomputes the summaries of the categories in `scope` from category_view and product_summary. A row
 * with neither a category nor products is removed.
 */
export function categorySummaryStatement(tables: ViewTables, scope: SummaryScope): Statement {
  return statement(
    `WITH touched AS (
         ${touchedCategories(tables)}
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
    [arrayLiteral(scope.categoryIds), arrayLiteral(scope.productIds)],
  );
}

/**
 * category_summary: recomputed for every category the batch touched (see SummaryScope). A summary over
 * many products' rows: when a batch is isolated, it is recomputed apart from the events (see
 * refreshSummariesApart), so a summary the store refuses parks no event.
 */
export const categorySummaryView: ViewModule = {
  name: 'category_summary',
  handles: ['category', 'product', 'review'],
  summary: true,
  statements(changes, tables) {
    const scope = summaryScopeOf(changes);
    if (scope.categoryIds.length === 0 && scope.productIds.length === 0) return [];
    return [categorySummaryStatement(tables, scope)];
  },
};
