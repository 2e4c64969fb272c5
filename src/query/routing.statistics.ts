import { chooseAnalyticsPath, type AnalyticsPathChoice } from './analytics.path.js';
import type { Window } from './analytics.types.js';
import type { Queryable } from './read-store.js';
import type { HeavyQuery, TableStats } from './strategy.router.js';
import { windowFraction, type ColumnHistogram } from './window-fraction.js';

/** Planner statistics of the replica the `auto` rule estimates rows from, read now and then. */
export interface ReplicaStatistics {
  /** Rows per table (pg_class.reltuples; a table never analysed: the planner's estimate of a scan). */
  rows: TableStats & { productDays: number; categoryDays: number };
  /** How review_view.created_at is distributed (pg_stats); null before the table is analysed. */
  createdAt: ColumnHistogram | null;
}

/** The tables whose sizes the rule weighs, by the name `rows` gives them. */
const TABLES = {
  products: 'product_summary',
  reviews: 'review_view',
  categories: 'category_view',
  productDays: 'product_day_rollup',
  categoryDays: 'category_day_rollup',
} as const;

/** Which rollups a query's procedure reads on the rollup path (procedures/analytics.sql). */
const ROLLUPS_READ: Readonly<Partial<Record<HeavyQuery, readonly ('productDays' | 'categoryDays')[]>>> = {
  'top-rated': ['productDays'],
  'rating-trend': ['categoryDays'],
  // The report from the category rollup, its price bands from the product rollup.
  'category-report': ['categoryDays', 'productDays'],
};

const DAY_MS = 86_400_000;

/**
 * Reads the statistics on one connection: reltuples of the tables, the created_at histogram, and for
 * a table never analysed (reltuples -1) the planner's row estimate of a full scan.
 */
export async function readReplicaStatistics(db: Queryable): Promise<ReplicaStatistics> {
  const { rows: sizes } = await db.query<{ relname: string; reltuples: number }>(
    `SELECT relname, reltuples::float8 AS reltuples FROM pg_class
     WHERE relname = ANY($1::text[]) AND relnamespace = 'public'::regnamespace`,
    [Object.values(TABLES)],
  );
  const { rows: histograms } = await db.query<{
    null_frac: number;
    common: number[] | null;
    frequencies: number[] | null;
    bounds: number[] | null;
  }>(
    `SELECT null_frac::float8 AS null_frac,
       (SELECT array_agg(extract(epoch FROM v) * 1000 ORDER BY n)
          FROM unnest(most_common_vals::text::timestamptz[]) WITH ORDINALITY AS c(v, n))::float8[] AS common,
       most_common_freqs::float8[] AS frequencies,
       (SELECT array_agg(extract(epoch FROM v) * 1000 ORDER BY n)
          FROM unnest(histogram_bounds::text::timestamptz[]) WITH ORDINALITY AS h(v, n))::float8[] AS bounds
     FROM pg_stats WHERE schemaname = 'public' AND tablename = 'review_view' AND attname = 'created_at'`,
  );
  const rows = { products: 0, reviews: 0, categories: 0, productDays: 0, categoryDays: 0 };
  for (const [key, table] of Object.entries(TABLES) as [keyof typeof TABLES, string][]) {
    const reltuples = sizes.find((size) => size.relname === table)?.reltuples ?? -1;
    rows[key] = reltuples >= 0 ? reltuples : await plannedRows(db, table);
  }
  const histogram = histograms[0];
  const createdAt = histogram
    ? {
        nullFraction: histogram.null_frac,
        mostCommon: (histogram.common ?? []).map((value, i) => ({
          value,
          frequency: histogram.frequencies?.[i] ?? 0,
        })),
        bounds: histogram.bounds ?? [],
      }
    : null;
  return { rows, createdAt };
}

async function plannedRows(db: Queryable, table: string): Promise<number> {
  const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${table}`,
  );
  return rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0;
}

/** The share of reviews in a window, from the histogram; all of them when there is none yet. */
function shareOf(statistics: ReplicaStatistics, from: number, to: number): number {
  return statistics.createdAt ? windowFraction(statistics.createdAt, { from, to }) : 1;
}

/** What the rule needs about one request's rows, and a note saying where the window's share came from. */
export interface RowEstimates {
  stats: TableStats;
  windowFraction: number;
  /** Rows the procedure reads when it takes the rollup path; absent on the raw path. */
  localityRowsRead?: number;
  note: string;
}

/**
 * The request's row estimates, without a round trip: the window's share of the reviews from the
 * histogram, and, when the procedure will take the rollup path (`chooseAnalyticsPath`), the rollup
 * rows of its whole days (their table's rows times the days' share of reviews) plus the reviews of
 * its partial days.
 */
export function rowEstimatesFor(
  statistics: ReplicaStatistics,
  query: HeavyQuery,
  window: Window & { path?: AnalyticsPathChoice },
): RowEstimates {
  const { rows } = statistics;
  const stats = { products: rows.products, reviews: rows.reviews, categories: rows.categories };
  const from = window.from.getTime();
  const to = window.to.getTime();
  const fraction = shareOf(statistics, from, to);
  const source = statistics.createdAt ? 'created_at histogram' : 'no histogram: all reviews';
  const reviewsNote = `~${Math.round(rows.reviews * fraction)} reviews in window (${source})`;
  const rollups = ROLLUPS_READ[query];
  if (!rollups || chooseAnalyticsPath(window, window.path) !== 'rollup') {
    return { stats, windowFraction: fraction, note: reviewsNote };
  }
  const wholeDays = shareOf(statistics, Math.ceil(from / DAY_MS) * DAY_MS, Math.floor(to / DAY_MS) * DAY_MS);
  const rollupRows = rollups.reduce((sum, rollup) => sum + Math.max(0, rows[rollup]) * wholeDays, 0);
  const partialDayReviews = Math.max(0, rows.reviews) * Math.max(0, fraction - wholeDays);
  const localityRowsRead = Math.round(rollupRows + partialDayReviews + Math.max(0, rows.products));
  return {
    stats,
    windowFraction: fraction,
    localityRowsRead,
    note: `${reviewsNote}; rollup path: ~${localityRowsRead} rows read`,
  };
}
