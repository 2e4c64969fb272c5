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
}

export interface RoutingDecision {
  strategy: Exclude<Strategy, 'composition'>;
  rowsRead: number;
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
 * Estimates come from the replica's planner statistics (`pg_class.reltuples`, or `EXPLAIN` rows when a
 * table was never analysed), so the rule is cheap and may be wrong by a constant factor — a ratio of
 * 10 leaves room for that.
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
  const locality = rowsRead >= LOCALITY_RATIO * expectedResultRows;
  return {
    strategy: locality ? 'locality' : 'service-join',
    rowsRead,
    expectedResultRows,
    reason: `${rowsRead} rows read vs ~${expectedResultRows} returned: ${
      locality
        ? `result ${LOCALITY_RATIO}x+ smaller, aggregate next to the data`
        : 'result about as large as input, stream rows'
    }`,
  };
}
