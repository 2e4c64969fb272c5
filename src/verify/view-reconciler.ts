import type pg from 'pg';
import { splitAccepted } from '../projector/apply-changes.js';
import { viewTables, type AcceptedChanges, type ViewTables } from '../projector/projection.types.js';
import { categorySummaryView } from '../projector/views/category-summary.view.js';
import { productRatingView } from '../projector/views/product-rating.view.js';
import { refillRollupsStatements } from '../projector/views/rollups.view.js';
import type { Statement } from '../shared/postgres.js';

/** Where a view was read: the read primary (the projector writes it) or its replica (users read it). */
export type Server = 'primary' | 'replica';

export interface ViewDifference {
  server: Server;
  view: string;
  /** The row's key (an id). */
  id: string;
  /** missing: the sources have the row, the view does not; unexpected: the reverse; different: both, unequal. */
  kind: 'missing' | 'unexpected' | 'different';
  /** The differing column; null for a missing or unexpected row, whose whole row is in expected or found. */
  column: string | null;
  /** What the sources say (JSON: timestamps as ISO text, numerics as numbers); null when unexpected. */
  expected: unknown;
  /** What the view holds; null when missing. */
  found: unknown;
}

/** Every view, by its key (a column, or an expression that starts with one); every column is compared. */
export const COMPARED_VIEWS: readonly { view: string; key: string; table: (tables: ViewTables) => string }[] =
  [
    { view: 'category_view', key: 'id', table: (t) => t.categoryView },
    { view: 'product_summary', key: 'id', table: (t) => t.productSummary },
    { view: 'review_view', key: 'id', table: (t) => t.reviewView },
    { view: 'category_summary', key: 'category_id', table: (t) => t.categorySummary },
    // The rollups have two-column keys (one nullable), named here as one text.
    {
      view: 'product_day_rollup',
      key: `product_id::text || ' ' || day::text`,
      table: (t) => t.productDayRollup,
    },
    {
      view: 'category_day_rollup',
      key: `day::text || ' ' || coalesce(category_id::text, 'none')`,
      table: (t) => t.categoryDayRollup,
    },
  ];

export const LIVE_TABLES = viewTables();
/** What the views should hold, built from the sources in temporary tables of the verify session. */
const EXPECTED_TABLES = viewTables('__expected');

/** A batch that changed nothing: the statements below are given only the ids to recompute. */
const NO_CHANGES: AcceptedChanges = splitAccepted([]);

/**
 * Builds the views the sources call for (`*__expected` temporary tables shaped LIKE the live ones)
 * from the `src_*` tables of `session`. Row copies are plain SQL; the summaries are computed by the
 * projector's own statements (its full recompute of product ratings, its category summary), run
 * over the expected tables a chunk of ids at a time, so a difference is never a rounding artefact of
 * a second implementation. What the projector leaves in a review of a deleted product (no name, no
 * category) is what is expected. The rollups are summed from the expected reviews and products.
 */
export async function buildExpectedViews(session: pg.ClientBase, chunkSize: number): Promise<void> {
  const t = EXPECTED_TABLES;
  for (const { table } of COMPARED_VIEWS)
    await session.query(`CREATE TEMP TABLE ${table(t)} (LIKE ${table(LIVE_TABLES)} INCLUDING ALL)`);
  await session.query(
    `INSERT INTO ${t.categoryView} (id, name, description, version, created_at, updated_at)
     SELECT id, name, description, version, created_at, updated_at FROM src_categories`,
  );
  await session.query(
    `INSERT INTO ${t.productSummary} (id, sku, name, description, category_id, category_name, price_amount,
       price_currency, attributes, created_at, updated_at, version)
     SELECT p.id, p.sku, p.name, p.description, p.category_id, c.name, p.price_amount, p.price_currency,
       p.attributes, p.created_at, p.updated_at, p.version
     FROM src_products p LEFT JOIN src_categories c ON c.id = p.category_id`,
  );
  await session.query(
    `INSERT INTO ${t.reviewView} (id, product_id, author, rating, title, body, created_at, updated_at, version,
       product_name, category_id)
     SELECT r.id, r.product_id, r.author, r.rating, r.title, r.body, r.created_at, r.updated_at, r.version,
       p.name, p.category_id
     FROM src_reviews r LEFT JOIN src_products p ON p.id = r.product_id`,
  );
  for await (const ids of idChunks(session, t.productSummary, chunkSize))
    await run(
      session,
      productRatingView.statements({ ...NO_CHANGES, ratings: { deltas: [], recompute: ids } }, t),
    );
  const categoryIds = `(SELECT id FROM ${t.categoryView} UNION
                        SELECT category_id FROM ${t.productSummary} WHERE category_id IS NOT NULL)`;
  for await (const ids of idChunks(session, categoryIds, chunkSize))
    await run(session, categorySummaryView.statements({ ...NO_CHANGES, productCategoryIds: ids }, t));
  await run(session, refillRollupsStatements(t));
}

async function run(session: pg.ClientBase, statements: Statement[]): Promise<void> {
  for (const { text, values } of statements) await session.query(text, [...values]);
}

/** The `id`s of a relation in keyset chunks: memory holds one chunk of ids. */
async function* idChunks(session: pg.ClientBase, relation: string, size: number): AsyncGenerator<string[]> {
  let last: string | null = null;
  for (;;) {
    const { rows }: pg.QueryResult<{ ids: string[] | null }> = await session.query(
      `SELECT array_agg(id::text ORDER BY id) AS ids
       FROM (SELECT id FROM ${relation} r ${last === null ? '' : 'WHERE id > $2'} ORDER BY id LIMIT $1) page`,
      last === null ? [size] : [size, last],
    );
    const ids: string[] = rows[0]?.ids ?? [];
    if (ids.length > 0) yield ids;
    if (ids.length < size) return;
    last = ids[ids.length - 1]!;
  }
}

/** Differences of one view on one server, the first `maxListed` of them, and how many rows differ. */
export interface ViewComparison {
  differences: ViewDifference[];
  differingRows: number;
}

/**
 * Compares every column of every row of each view in `actual` with `EXPECTED_TABLES`, in `session`
 * (run it in one snapshot: a REPEATABLE READ transaction). Rows are compared as JSON (`to_jsonb`):
 * equal values are equal JSON whatever their formatting (4.5 and 4.5000, key order of attributes).
 * @returns per view, the differing columns of the first `maxListed` differing rows (by id).
 */
export async function compareViews(
  session: pg.ClientBase,
  actual: ViewTables,
  server: Server,
  maxListed: number,
): Promise<ViewComparison> {
  const differences: ViewDifference[] = [];
  let differingRows = 0;
  for (const { view, key, table } of COMPARED_VIEWS) {
    const { rows } = await session.query<{
      id: string;
      total: number;
      column_name: string | null;
      expected: unknown;
      found: unknown;
      kind: ViewDifference['kind'];
    }>(
      `WITH e AS (SELECT t.${key} AS id, to_jsonb(t) AS row FROM ${table(EXPECTED_TABLES)} t),
            a AS (SELECT t.${key} AS id, to_jsonb(t) AS row FROM ${table(actual)} t),
            d AS (SELECT coalesce(e.id, a.id) AS id, e.row AS expected, a.row AS found, count(*) OVER () AS total
                  FROM e FULL JOIN a ON a.id = e.id
                  WHERE e.row IS DISTINCT FROM a.row
                  ORDER BY 1 LIMIT $1)
       SELECT d.id::text AS id, d.total::int AS total, c.column_name,
              CASE WHEN d.expected IS NULL THEN 'unexpected' WHEN d.found IS NULL THEN 'missing'
                   ELSE 'different' END AS kind,
              CASE WHEN c.column_name IS NULL THEN d.expected ELSE d.expected -> c.column_name END AS expected,
              CASE WHEN c.column_name IS NULL THEN d.found ELSE d.found -> c.column_name END AS found
       FROM d LEFT JOIN LATERAL (
         SELECT k AS column_name FROM jsonb_object_keys(d.expected) k
         WHERE d.found IS NOT NULL AND d.expected -> k IS DISTINCT FROM d.found -> k) c ON true
       ORDER BY d.id, c.column_name`,
      [maxListed],
    );
    differingRows += rows[0]?.total ?? 0;
    for (const row of rows) {
      differences.push({
        server,
        view,
        id: row.id,
        kind: row.kind,
        column: row.column_name,
        expected: row.expected,
        found: row.found,
      });
    }
  }
  return { differences, differingRows };
}
