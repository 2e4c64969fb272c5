import type { ColumnType, Generated, Selectable } from 'kysely';

/**
 * The read store's tables as Kysely sees them (migrations/readmodel/). The projector writes them, the
 * query service and `locus verify` read them; most of those statements run on raw pg, whose rows take
 * their types from here (`Selectable<…>`, `Pick<…>`) instead of describing the columns again.
 * bigint columns arrive as numbers (see shared/postgres.ts); numeric ones as strings.
 */

interface AppliedVersionsTable {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  deleted: Generated<boolean>;
  event_time: Date;
  applied_at: Generated<Date>;
}

interface CategoryViewTable {
  id: string;
  name: string;
  description: Generated<string>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

interface ProductSummaryTable {
  id: string;
  sku: string;
  name: string;
  description: Generated<string>;
  category_id: string | null;
  category_name: string | null;
  /** Minor units. */
  price_amount: number;
  price_currency: string;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Date;
  updated_at: Date;
  version: number;
  review_count: Generated<number>;
  rating_sum: Generated<number>;
  average_rating: string | null;
  /** Counts of ratings 1..5, in that order. */
  rating_histogram: Generated<number[]>;
  last_review_at: Date | null;
}

/** One row per live review; product_name and category_id are null until the product's first event. */
interface ReviewViewTable {
  id: string;
  product_id: string;
  author: string;
  rating: number;
  title: Generated<string>;
  body: Generated<string>;
  created_at: Date;
  updated_at: Date;
  version: number;
  product_name: string | null;
  category_id: string | null;
}

interface CategorySummaryTable {
  category_id: string;
  name: string | null;
  product_count: Generated<number>;
  price_min: number | null;
  price_max: number | null;
  price_avg: string | null;
  review_count: Generated<number>;
  average_rating: string | null;
}

/** Counts of one rollup key (migration 0006): reviews, their rating sum and each rating 1..5. */
interface RollupCounters {
  review_count: number;
  rating_sum: number;
  rating_1: number;
  rating_2: number;
  rating_3: number;
  rating_4: number;
  rating_5: number;
}

/** Per product of review_view (known or not) and UTC day. */
interface ProductDayRollupTable extends RollupCounters {
  product_id: string;
  day: Date;
}

/** Per category of the product (null: a known product without one) and UTC day. */
interface CategoryDayRollupTable extends RollupCounters {
  category_id: string | null;
  day: Date;
}

interface ProjectorPositionsTable {
  consumer: string;
  topic: string;
  partition: number;
  next_offset: number;
  updated_at: Generated<Date>;
}

type DeadLetterStatus = 'parked' | 'waiting' | 'retried' | 'skipped';

interface DeadLettersTable {
  id: Generated<number>;
  consumer: string;
  status: DeadLetterStatus;
  reason: string;
  error_code: string;
  topic: string;
  partition: number;
  kafka_offset: number;
  message_key: string | null;
  value: Buffer | null;
  headers: ColumnType<Record<string, string>, string | undefined, string>;
  event_type: string | null;
  attempts: Generated<number>;
  created_at: Generated<Date>;
  resolved_at: Date | null;
}

interface ProjectorCommitsTable {
  consumer: string;
  /** A pg_lsn, as text. */
  commit_lsn: string;
  committed_at: Date;
  batch_events: number;
}

export interface ReadStoreDb {
  applied_versions: AppliedVersionsTable;
  category_view: CategoryViewTable;
  product_summary: ProductSummaryTable;
  review_view: ReviewViewTable;
  category_summary: CategorySummaryTable;
  product_day_rollup: ProductDayRollupTable;
  category_day_rollup: CategoryDayRollupTable;
  projector_positions: ProjectorPositionsTable;
  dead_letters: DeadLettersTable;
  projector_commits: ProjectorCommitsTable;
}

export type ProductSummaryRow = Selectable<ReadStoreDb['product_summary']>;
export type ReviewViewRow = Selectable<ReadStoreDb['review_view']>;
export type CategorySummaryRow = Selectable<ReadStoreDb['category_summary']>;
