import type pg from 'pg';
import type { Statement } from '../shared/postgres.js';
import type { CategoryState, ProductState } from '../contracts/catalog.events.js';
import type { AggregateType } from '../contracts/envelope.js';
import type { ReviewState } from '../contracts/review.events.js';
import type { RatingPlan } from './rating-delta.js';
import type { RollupPlan } from './rollup-delta.js';

/**
 * A pg client inside an open transaction. Only `withTransaction` makes one, so a function that takes
 * a `Tx` cannot be called outside a transaction by mistake.
 */
export type Tx = pg.PoolClient & { readonly __transaction: unique symbol };

/** Runs `fn` in one transaction on a client of `pool`; rolls back and rethrows on failure. */
export async function withTransaction<T>(pool: pg.Pool, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client as Tx);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The names of the view tables one projection writes. The live projector writes the tables of
 * 0001_views.sql; a rebuild writes copies with a suffix (`product_summary__next`, …) and swaps them in.
 */
export interface ViewTables {
  appliedVersions: string;
  categoryView: string;
  productSummary: string;
  reviewView: string;
  categorySummary: string;
  productDayRollup: string;
  categoryDayRollup: string;
}

export const VIEW_TABLE_NAMES = [
  'applied_versions',
  'category_view',
  'product_summary',
  'review_view',
  'category_summary',
  'product_day_rollup',
  'category_day_rollup',
] as const;

export function viewTables(suffix = ''): ViewTables {
  return {
    appliedVersions: `applied_versions${suffix}`,
    categoryView: `category_view${suffix}`,
    productSummary: `product_summary${suffix}`,
    reviewView: `review_view${suffix}`,
    categorySummary: `category_summary${suffix}`,
    productDayRollup: `product_day_rollup${suffix}`,
    categoryDayRollup: `category_day_rollup${suffix}`,
  };
}

interface ChangeBase {
  id: string;
  version: number;
  /** The event's `time` (ISO 8601): when the change happened at the source. */
  eventTime: string;
}

/** One event reduced to what the views need: the aggregate's new state, or its deletion. */
export type Change =
  | (ChangeBase & { aggregateType: 'category'; deleted: false; state: CategoryState })
  | (ChangeBase & { aggregateType: 'product'; deleted: false; state: ProductState })
  | (ChangeBase & { aggregateType: 'product'; deleted: true; categoryId: string | null })
  | (ChangeBase & { aggregateType: 'review'; deleted: false; state: ReviewState })
  | (ChangeBase & { aggregateType: 'review'; deleted: true; productId: string });

/**
 * The changes of one batch that passed the version guard (each newer than what was applied), split by
 * kind, plus what the views need to know about the state before the batch.
 */
export interface AcceptedChanges {
  categories: (ChangeBase & { state: CategoryState })[];
  productUpserts: (ChangeBase & { state: ProductState })[];
  productDeletes: (ChangeBase & { categoryId: string | null })[];
  reviewUpserts: (ChangeBase & { state: ReviewState })[];
  reviewDeletes: (ChangeBase & { productId: string })[];
  /** Categories the changed products belong to, before and after this batch (their summaries change). */
  productCategoryIds: string[];
  /** Products new to the view or whose name or category changed: their reviews' copies must follow. */
  renamedProductIds: string[];
  /**
   * Products whose rating summary changes: products of changed reviews, and products new to the view
   * (their reviews may have arrived first). An update of an existing product keeps its rating.
   */
  touchedProductIds: string[];
  /** How the touched products' rating summaries change: increments, or a recompute (planRatings). */
  ratings: RatingPlan;
  /** How the rollups change: reviews in and out, products between categories (planRollups). */
  rollups: RollupPlan;
}

/**
 * One materialized view: which aggregates change it, and the set-based statements that apply accepted
 * changes to it. Statements, not calls: the views of a batch are sent to the store together, in one
 * round trip, each statement seeing what the ones before it wrote.
 */
export interface ViewModule {
  name: string;
  handles: readonly AggregateType[];
  /**
   * A summary over many aggregates' rows (category_summary), not any one event's own rows: an isolated
   * batch recomputes it apart from the events, so its failure parks none of them.
   */
  summary?: boolean;
  statements(changes: AcceptedChanges, tables: ViewTables): Statement[];
}
