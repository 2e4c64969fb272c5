import type { Queryable } from './read-store.js';
import type { HeavyQuery, RowWidths } from './strategy.router.js';

/**
 * A column as it crosses the wire in the text protocol: `fixed` is its text width for types whose
 * text form has one size (a uuid is 36 characters whatever pg_stats says about its 16 stored bytes);
 * columns without `fixed` are variable text, measured by pg_stats.
 */
interface WireColumn {
  table: 'review_view' | 'product_summary';
  name: string;
  fixed?: number;
}

const UUID_TEXT = 36;
/** `2026-06-15 12:00:00.123+00`: a timestamptz with milliseconds, as the read store holds them. */
const TIMESTAMPTZ_TEXT = 26;
/** A rating, 1 to 5. */
const SMALLINT_RATING_TEXT = 1;
/** A price in minor units: a few digits. */
const BIGINT_PRICE_TEXT = 6;
/** Text of a column never analysed: a guess that errs towards moving bytes being costly. */
const UNKNOWN_TEXT = 32;
/** A DataRow message: type byte, message length, field count. Each field adds its 4-byte length. */
const ROW_HEADER_BYTES = 7;
const FIELD_HEADER_BYTES = 4;

/** What service-join reads of each review (src/query/replica.rows.ts). */
const REVIEW_COLUMNS: readonly WireColumn[] = [
  { table: 'review_view', name: 'id', fixed: UUID_TEXT },
  { table: 'review_view', name: 'product_id', fixed: UUID_TEXT },
  { table: 'review_view', name: 'author' },
  { table: 'review_view', name: 'rating', fixed: SMALLINT_RATING_TEXT },
  { table: 'review_view', name: 'title' },
  { table: 'review_view', name: 'body' },
  { table: 'review_view', name: 'created_at', fixed: TIMESTAMPTZ_TEXT },
];

/** What service-join reads of each product, and what the export procedure repeats in each row. */
const PRODUCT_COLUMNS: readonly WireColumn[] = [
  { table: 'product_summary', name: 'id', fixed: UUID_TEXT },
  { table: 'product_summary', name: 'sku' },
  { table: 'product_summary', name: 'name' },
  { table: 'product_summary', name: 'category_id', fixed: UUID_TEXT },
  { table: 'product_summary', name: 'price_amount', fixed: BIGINT_PRICE_TEXT },
  { table: 'product_summary', name: 'price_currency' },
];

/**
 * Bytes per result row of the aggregating procedures, from the 1M-review loopback run's bytes moved
 * over result rows (bench/results/locality-2026-11-25T09-27-40-364Z.json). Their results are small,
 * so only the rollup's, which can reach the input's size, ever decides anything.
 */
const AGGREGATE_RESULT_BYTES: Readonly<Record<Exclude<HeavyQuery, 'export'>, number>> = {
  'top-rated': 175,
  'rating-trend': 70,
  'category-report': 100,
  rollup: 28,
};

/** pg_stats of one column: average stored width and the share of nulls (which cross as 0 bytes). */
export interface ColumnStats {
  avgWidth: number;
  nullFraction: number;
}

/** Column statistics keyed `table.column`. */
export type ColumnStatsMap = ReadonlyMap<string, ColumnStats>;

/** Row widths of the tables, as the wire carries them; the per-query result width derives from these. */
export interface TableWidths {
  review: number;
  product: number;
  /** An export row: the review's columns and its product's but the product id (review.product_id is it). */
  exportRow: number;
  /** How many of the columns had statistics (the rest were guessed), so the decision can say so. */
  measuredColumns: number;
  columns: number;
}

function wireRowBytes(
  columns: readonly WireColumn[],
  stats: ColumnStatsMap,
): { bytes: number; measured: number } {
  let bytes = ROW_HEADER_BYTES;
  let measured = 0;
  for (const column of columns) {
    const stat = stats.get(`${column.table}.${column.name}`);
    if (stat) measured++;
    const width = column.fixed ?? stat?.avgWidth ?? UNKNOWN_TEXT;
    bytes += FIELD_HEADER_BYTES + width * (1 - (stat?.nullFraction ?? 0));
  }
  return { bytes, measured };
}

/**
 * Row widths from pg_stats: fixed-size types at their text width, text at its average stored width,
 * nulls at nothing, plus the protocol's per-row and per-field headers.
 * @example tableWidthsOf(await readColumnStats(replica)).review → bytes per review service-join reads
 */
export function tableWidthsOf(stats: ColumnStatsMap): TableWidths {
  const review = wireRowBytes(REVIEW_COLUMNS, stats);
  const product = wireRowBytes(PRODUCT_COLUMNS, stats);
  const productExtra = wireRowBytes(
    PRODUCT_COLUMNS.filter((column) => column.name !== 'id'),
    stats,
  );
  return {
    review: Math.round(review.bytes),
    product: Math.round(product.bytes),
    exportRow: Math.round(review.bytes + productExtra.bytes - ROW_HEADER_BYTES),
    measuredColumns: review.measured + product.measured,
    columns: REVIEW_COLUMNS.length + PRODUCT_COLUMNS.length,
  };
}

/** The widths `chooseStrategy` weighs for one query. */
export function rowWidthsFor(query: HeavyQuery, widths: TableWidths): RowWidths {
  return {
    review: widths.review,
    product: widths.product,
    result: query === 'export' ? widths.exportRow : AGGREGATE_RESULT_BYTES[query],
  };
}

/**
 * Reads pg_stats for the columns the strategies move. Empty for tables never analysed (then
 * `tableWidthsOf` guesses); pg_stats shows only columns this role may read, which are these.
 */
export async function readColumnStats(db: Queryable): Promise<ColumnStatsMap> {
  const { rows } = await db.query<{
    tablename: string;
    attname: string;
    avg_width: number;
    null_frac: number;
  }>(
    `SELECT tablename, attname, avg_width, null_frac::float8 AS null_frac FROM pg_stats
     WHERE schemaname = 'public' AND tablename IN ('review_view', 'product_summary')`,
  );
  return new Map(
    rows.map((row) => [
      `${row.tablename}.${row.attname}`,
      { avgWidth: row.avg_width, nullFraction: row.null_frac },
    ]),
  );
}
