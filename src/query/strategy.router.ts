/** How a heavy query is answered. */
export type Strategy = 'locality' | 'service-join' | 'composition';
export type StrategyChoice = Strategy | 'auto';
export const STRATEGY_CHOICES = ['auto', 'locality', 'service-join', 'composition'] as const;

export type HeavyQuery = 'top-rated' | 'rating-trend' | 'category-report' | 'rollup' | 'export';

/** Row-count statistics of the replica's view tables (planner estimates, not exact counts). */
export interface TableStats {
  products: number;
  reviews: number;
  categories: number;
}

export interface RoutingInput {
  query: HeavyQuery;
  stats: TableStats;
  /** Fraction of all reviews the time window covers (0..1), estimated by the caller. */
  windowFraction: number;
  /** Per-category result limit (top-rated). */
  limitPerCategory?: number;
  /** Number of time buckets the window spans (rating-trend). */
  buckets?: number;
  /** Number of price bands per category (category-report). */
  priceBands?: number;
  /** Number of buckets asked for (rollup). */
  groups?: number;
  /** True when the query is narrowed to one category or product. */
  narrowed?: boolean;
  /** Rows the procedure reads when it takes the rollup path (default: the rows service-join moves). */
  localityRowsRead?: number;
  /** Average row widths in bytes (pg_stats avg_width summed over the columns each side moves). */
  widths?: RowWidths;
  /** The link between this service and the replica, measured or configured. */
  link?: LinkEstimate;
}

/** Bytes per row as they cross the wire: a review and a product read by service-join, a result row. */
export interface RowWidths {
  review: number;
  product: number;
  result: number;
}

export interface LinkEstimate {
  rttMs: number;
  bytesPerSecond: number;
}

/**
 * Per-row work of each side, in microseconds, from the 1M-review ratio sweep on loopback
 * (bench/results/locality-2026-11-25T09-27-40-364Z.json, rechecked against locality-latest.md: rollup
 * G=1 and the export at 1M), where moving bytes costs almost nothing: the procedure scans a review in
 * a fraction of what it costs service-join to receive, decode and join it, and builds each result row
 * at about the cost service-join pays to emit one.
 */
const ROW_COST_US = {
  localityPerRowRead: 0.6,
  localityPerResultRow: 4.5,
  serviceJoinPerRowRead: 5.5,
  serviceJoinPerResultRow: 3.5,
} as const;
/** Round trips a service-join makes before its first row (catalog read, reviews cursor) against one. */
const SERVICE_JOIN_ROUND_TRIPS = 3;
/**
 * Rows per cursor batch: each batch after the first is one more round trip. Service-join reads its
 * tables in batches of 2000 (replica.rows.ts); the streamed procedures (rollup, export) return
 * batches of 1000 (procedures.ts); the other procedures return their result at once.
 */
const SERVICE_JOIN_BATCH_ROWS = 2000;
const LOCALITY_BATCH_ROWS = 1000;
const STREAMED: ReadonlySet<HeavyQuery> = new Set(['rollup', 'export']);

export interface RoutingDecision {
  strategy: Exclude<Strategy, 'composition'>;
  /** Rows service-join moves; the procedure reads as many, or `localityRowsRead` on the rollup path. */
  rowsRead: number;
  localityRowsRead: number;
  expectedResultRows: number;
  reason: string;
}

/** Locality wins when the rows read are at least this many times the rows returned. */
export const LOCALITY_RATIO = 10;

/**
 * The `auto` rule. Moving rows costs more than aggregating them, so the question is how many rows
 * would cross the wire under each strategy:
 * - service-join ships every row read (`rowsRead` = reviews in the window + products) to this process;
 * - locality ships only the result (`expectedResultRows`) and aggregates next to the data.
 * When `rowsRead >= LOCALITY_RATIO × expectedResultRows` the procedure on the replica (locality) is
 * chosen; otherwise (the result is about as large as the input, as for `export`) shipping rows is
 * unavoidable and the service-join streams them without the procedure's extra materialisation.
 * Composition is never chosen automatically: it reads the same rows through two services' HTTP APIs,
 * which is strictly more movement than service-join; it is there to be measured and compared.
 * Estimates come from the replica's planner statistics (`pg_class.reltuples` and the created_at
 * histogram, kept by routing.inputs.ts), so the rule costs no round trip and may be wrong by a
 * constant factor — a ratio of 10 leaves room for that.
 * @example chooseStrategy({query: 'export', ...}) → service-join; top-rated over 1M reviews → locality
 */
export function chooseStrategy(input: RoutingInput): RoutingDecision {
  const { stats } = input;
  const fraction = Math.min(1, Math.max(0, input.windowFraction));
  const reviewsInWindow = Math.max(0, stats.reviews) * fraction;
  const products = Math.max(0, stats.products);
  // A category without products yields no rows, so there are never more result categories than products.
  const categories = input.narrowed ? 1 : Math.max(1, Math.min(stats.categories, products));
  const rowsRead = Math.ceil(reviewsInWindow + products);
  let expected: number;
  switch (input.query) {
    case 'top-rated':
      expected = Math.min(products, categories * (input.limitPerCategory ?? 10));
      break;
    case 'rating-trend':
      expected = Math.min(reviewsInWindow, input.buckets ?? 1);
      break;
    case 'category-report':
      expected = categories * (1 + (input.priceBands ?? 5));
      break;
    case 'rollup':
      // Every non-empty bucket is a row: never more than the buckets, nor than the reviews.
      expected = Math.min(reviewsInWindow, input.groups ?? 1);
      break;
    case 'export':
      expected = reviewsInWindow;
      break;
  }
  const expectedResultRows = Math.ceil(Math.max(1, expected));
  const localityRowsRead = Math.ceil(Math.max(0, input.localityRowsRead ?? rowsRead));
  const rows = { rowsRead, localityRowsRead, reviewsInWindow, products, expectedResultRows };
  if (input.widths && input.link) return byTime(rows, STREAMED.has(input.query), input.widths, input.link);
  const locality = rowsRead >= LOCALITY_RATIO * expectedResultRows;
  return {
    strategy: locality ? 'locality' : 'service-join',
    rowsRead,
    localityRowsRead,
    expectedResultRows,
    reason: `${rowsRead} rows read vs ~${expectedResultRows} returned: ${
      locality
        ? `result ${LOCALITY_RATIO}x+ smaller, aggregate next to the data`
        : 'result about as large as input, stream rows'
    }`,
  };
}

interface RowCounts {
  rowsRead: number;
  localityRowsRead: number;
  reviewsInWindow: number;
  products: number;
  expectedResultRows: number;
}

/** Round trips of each side: the first, plus one per further cursor batch. */
function roundTrips(rows: RowCounts, streamed: boolean): { locality: number; serviceJoin: number } {
  const further = (count: number, batch: number) => Math.max(0, Math.ceil(count / batch) - 1);
  return {
    locality: 1 + (streamed ? further(rows.expectedResultRows, LOCALITY_BATCH_ROWS) : 0),
    serviceJoin:
      SERVICE_JOIN_ROUND_TRIPS +
      further(rows.reviewsInWindow, SERVICE_JOIN_BATCH_ROWS) +
      further(rows.products, SERVICE_JOIN_BATCH_ROWS),
  };
}

/** What each strategy would cost, in estimated milliseconds. */
function estimateMs(
  rows: RowCounts,
  streamed: boolean,
  widths: RowWidths,
  link: LinkEstimate,
): { locality: number; serviceJoin: number; localityBytes: number; serviceJoinBytes: number } {
  const localityBytes = rows.expectedResultRows * widths.result;
  const serviceJoinBytes = rows.reviewsInWindow * widths.review + rows.products * widths.product;
  const transferMs = (bytes: number) => (bytes / Math.max(1, link.bytesPerSecond)) * 1000;
  const workMs = (read: number, perRowRead: number, perResultRow: number) =>
    (read * perRowRead + rows.expectedResultRows * perResultRow) / 1000;
  const trips = roundTrips(rows, streamed);
  return {
    localityBytes,
    serviceJoinBytes,
    locality:
      trips.locality * link.rttMs +
      transferMs(localityBytes) +
      workMs(rows.localityRowsRead, ROW_COST_US.localityPerRowRead, ROW_COST_US.localityPerResultRow),
    serviceJoin:
      trips.serviceJoin * link.rttMs +
      transferMs(serviceJoinBytes) +
      workMs(rows.rowsRead, ROW_COST_US.serviceJoinPerRowRead, ROW_COST_US.serviceJoinPerResultRow),
  };
}

/**
 * The rule when row widths and the link are known: each side's time is the bytes it moves over the
 * link's throughput, its round trips times the RTT, and its per-row work; the cheaper side wins. On a
 * fast link the per-row work decides (the procedure is cheaper per row read), on a slow one the bytes
 * and the cursor batches do (an export moves more bytes as procedure rows than as raw rows, in
 * batches half the size).
 */
function byTime(rows: RowCounts, streamed: boolean, widths: RowWidths, link: LinkEstimate): RoutingDecision {
  const estimate = estimateMs(rows, streamed, widths, link);
  const locality = estimate.locality <= estimate.serviceJoin;
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  return {
    strategy: locality ? 'locality' : 'service-join',
    rowsRead: rows.rowsRead,
    localityRowsRead: rows.localityRowsRead,
    expectedResultRows: rows.expectedResultRows,
    reason:
      `locality ~${Math.round(estimate.locality)} ms (${mb(estimate.localityBytes)} MB), ` +
      `service-join ~${Math.round(estimate.serviceJoin)} ms (${mb(estimate.serviceJoinBytes)} MB) ` +
      `over ${Number(link.rttMs.toPrecision(3))} ms RTT, ${mb(link.bytesPerSecond)} MB/s`,
  };
}
