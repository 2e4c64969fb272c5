import type { AcceptedChanges, ViewModule, ViewTables } from '../projection.types.js';
import { arrayLiteral, statement, type Statement } from '../../shared/postgres.js';

/** The counter columns both rollup tables share, in this order. */
const COUNTERS = 'review_count, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5';
const COUNTER_LIST = COUNTERS.split(', ');

/** True for a row of deltas that changes something: two re-ratings can cancel in count and sum alone. */
const NONZERO = (prefix: string) => COUNTER_LIST.map((column) => `${prefix}${column} <> 0`).join(' OR ');

/**
 * The batch's review contributions ($1..$4) summed per product and UTC day: what product_day_rollup
 * gains. Keys whose contributions cancel (an edit that kept product, day and rating) are left out.
 */
const PRODUCT_DAY_DELTA = `delta AS (
    SELECT * FROM (
      SELECT c.product_id, (c.created_at AT TIME ZONE 'UTC')::date AS day,
        sum(c.sign)::int AS review_count, sum(c.sign * c.rating)::int AS rating_sum,
        coalesce(sum(c.sign) FILTER (WHERE c.rating = 1), 0)::int AS rating_1,
        coalesce(sum(c.sign) FILTER (WHERE c.rating = 2), 0)::int AS rating_2,
        coalesce(sum(c.sign) FILTER (WHERE c.rating = 3), 0)::int AS rating_3,
        coalesce(sum(c.sign) FILTER (WHERE c.rating = 4), 0)::int AS rating_4,
        coalesce(sum(c.sign) FILTER (WHERE c.rating = 5), 0)::int AS rating_5
      FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[]) AS c(product_id, created_at, rating, sign)
      GROUP BY 1, 2
    ) g
    WHERE ${NONZERO('g.')}
  )`;

/**
 * Adds the `source` rows (key columns, then COUNTERS) to `table` in one statement: a key new to the
 * table is inserted, one whose count reaches zero is deleted, any other is incremented.
 */
function mergeCounters(table: string, keyMatch: string, keys: string, source: string): string {
  const add = COUNTER_LIST.map((column) => `${column} = t.${column} + d.${column}`).join(', ');
  const values = [...keys.split(', '), ...COUNTER_LIST].map((column) => `d.${column}`).join(', ');
  return `MERGE INTO ${table} t USING ${source} d ON ${keyMatch}
    WHEN MATCHED AND t.review_count + d.review_count = 0 THEN DELETE
    WHEN MATCHED THEN UPDATE SET ${add}
    WHEN NOT MATCHED THEN INSERT (${keys}, ${COUNTERS}) VALUES (${values})`;
}

function contributionValues(changes: AcceptedChanges): string[] {
  const reviews = changes.rollups.reviews;
  return [
    arrayLiteral(reviews.map((c) => c.productId)),
    arrayLiteral(reviews.map((c) => (c.createdAt instanceof Date ? c.createdAt.toISOString() : c.createdAt))),
    arrayLiteral(reviews.map((c) => c.rating)),
    arrayLiteral(reviews.map((c) => c.sign)),
  ];
}

/**
 * category_day_rollup's change, read against product_day_rollup BEFORE this batch changes it (so it is
 * sent first). A product that stayed where it was passes its review delta to its category; a product
 * created, deleted or recategorised takes its whole history out of the old key and puts it, with this
 * batch's delta, into the new one.
 */
function categoryDayStatement(changes: AcceptedChanges, tables: ViewTables): Statement {
  const moves = changes.rollups.moves;
  const keyed = (category: string, sign: string, source: string) =>
    `SELECT ${category} AS category_id, x.day, ${COUNTER_LIST.map(
      (column) => `${sign}x.${column} AS ${column}`,
    ).join(', ')} FROM ${source}`;
  return statement(
    `WITH ${PRODUCT_DAY_DELTA},
     moved AS (
       SELECT * FROM unnest($5::uuid[], $6::boolean[], $7::uuid[], $8::boolean[], $9::uuid[])
         AS m(product_id, before_exists, before_category, after_exists, after_category)
     ), contributions AS (
       ${keyed('p.category_id', '', `delta x JOIN ${tables.productSummary} p ON p.id = x.product_id`)}
       WHERE NOT EXISTS (SELECT 1 FROM moved m WHERE m.product_id = x.product_id)
       UNION ALL
       ${keyed('m.before_category', '-', `moved m JOIN ${tables.productDayRollup} x ON x.product_id = m.product_id`)}
       WHERE m.before_exists
       UNION ALL
       ${keyed(
         'm.after_category',
         '',
         `moved m JOIN (SELECT product_id, day, ${COUNTERS} FROM ${tables.productDayRollup}
            WHERE product_id = ANY($5::uuid[])
            UNION ALL SELECT * FROM delta) x ON x.product_id = m.product_id`,
       )}
       WHERE m.after_exists
     ), summed AS (
       SELECT category_id, day, ${COUNTER_LIST.map((column) => `sum(${column})::int AS ${column}`).join(', ')}
       FROM contributions GROUP BY 1, 2
     ), changed AS (
       SELECT * FROM summed s WHERE ${NONZERO('s.')}
     )
     ${mergeCounters(
       tables.categoryDayRollup,
       't.day = d.day AND t.category_id IS NOT DISTINCT FROM d.category_id',
       'category_id, day',
       'changed',
     )}`,
    [
      ...contributionValues(changes),
      arrayLiteral(moves.map((m) => m.productId)),
      arrayLiteral(moves.map((m) => m.before.exists)),
      arrayLiteral(moves.map((m) => m.before.categoryId)),
      arrayLiteral(moves.map((m) => m.after.exists)),
      arrayLiteral(moves.map((m) => m.after.categoryId)),
    ],
  );
}

function productDayStatement(changes: AcceptedChanges, tables: ViewTables): Statement {
  return statement(
    `WITH ${PRODUCT_DAY_DELTA}
     ${mergeCounters(
       tables.productDayRollup,
       't.product_id = d.product_id AND t.day = d.day',
       'product_id, day',
       'delta',
     )}`,
    contributionValues(changes),
  );
}

/**
 * product_day_rollup and category_day_rollup: per product (and per category) and UTC day, the count,
 * sum and distribution of the ratings of review_view's rows, for the heavy procedures. Moved by the
 * deltas of the changes that passed the version guard (planRollups), one MERGE per table per batch,
 * so they change exactly when review_view and product_summary do, in the same transaction.
 */
export const rollupsView: ViewModule = {
  name: 'rollups',
  handles: ['product', 'review'],
  statements(changes, tables) {
    const { reviews, moves } = changes.rollups;
    const statements: Statement[] = [];
    if (reviews.length > 0 || moves.length > 0) statements.push(categoryDayStatement(changes, tables));
    if (reviews.length > 0) statements.push(productDayStatement(changes, tables));
    return statements;
  },
};

/**
 * Recomputes both rollups of `tables` from review_view and product_summary (what migration 0006 does
 * once): for stores filled by other means than the projector, such as test fixtures.
 */
export function refillRollupsStatements(tables: ViewTables): Statement[] {
  return [
    statement(`DELETE FROM ${tables.productDayRollup}`, []),
    statement(`DELETE FROM ${tables.categoryDayRollup}`, []),
    statement(
      `INSERT INTO ${tables.productDayRollup} (product_id, day, ${COUNTERS})
       SELECT product_id, (created_at AT TIME ZONE 'UTC')::date, count(*), sum(rating),
         count(*) FILTER (WHERE rating = 1), count(*) FILTER (WHERE rating = 2),
         count(*) FILTER (WHERE rating = 3), count(*) FILTER (WHERE rating = 4),
         count(*) FILTER (WHERE rating = 5)
       FROM ${tables.reviewView} GROUP BY 1, 2`,
      [],
    ),
    statement(
      `INSERT INTO ${tables.categoryDayRollup} (category_id, day, ${COUNTERS})
       SELECT p.category_id, r.day, ${COUNTER_LIST.map((column) => `sum(r.${column})`).join(', ')}
       FROM ${tables.productDayRollup} r JOIN ${tables.productSummary} p ON p.id = r.product_id
       GROUP BY 1, 2`,
      [],
    ),
  ];
}
