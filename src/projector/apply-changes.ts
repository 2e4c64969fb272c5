import type { AcceptedChanges, Change, Tx, ViewTables } from './projection.types.js';
import { sendTogether, type Statement } from '../shared/postgres.js';
import { acceptNewer, dedupeChanges, type StoredProduct } from './batch/accept.js';
import { planRatings, type StoredReview } from './rating-delta.js';
import { planRollups } from './rollup-delta.js';
import { VIEWS } from './views/index.js';
import { summaryScopeOf, type SummaryScope } from './views/category-summary.view.js';

/** What planChanges decided: how many changes passed the version guard, and the view statements. */
export interface PlannedChanges {
  accepted: number;
  /** To run in order, in the same transaction (sendTogether sends them in one round trip). */
  statements: Statement[];
  /** The summaries the changes touch; their statements are left out when planned `summariesApart`. */
  summaries: SummaryScope;
}

/**
 * Plans a batch of changes inside `tx`: keeps the newest change per aggregate, lets the version guard
 * record and drop what is not newer than what was applied (one round trip, which also reads the rows
 * the accepted changes replace), and returns every view's set-based statements for what is left,
 * unsent, so the caller can send them together with the rest of its transaction. Idempotent: planning
 * and running the same changes again changes nothing. `summariesApart`: without the summary views'
 * statements, for the caller to recompute their `summaries` later (see refreshSummariesApart).
 */
export async function planChanges(
  tx: Tx,
  tables: ViewTables,
  changes: readonly Change[],
  options: { summariesApart?: boolean } = {},
): Promise<PlannedChanges> {
  const accepted = await acceptNewer(tx, tables, dedupeChanges(changes));
  if (accepted.changes.length === 0)
    return { accepted: 0, statements: [], summaries: { categoryIds: [], productIds: [] } };
  const split = splitAccepted(accepted.changes, accepted.previousProducts, accepted.previousReviews);
  const kinds = new Set(accepted.changes.map((c) => c.aggregateType));
  const statements: Statement[] = [];
  for (const view of VIEWS) {
    if (options.summariesApart && view.summary) continue;
    if (view.handles.some((kind) => kinds.has(kind))) statements.push(...view.statements(split, tables));
  }
  return { accepted: accepted.changes.length, statements, summaries: summaryScopeOf(split) };
}

/**
 * Applies a batch of changes to the views inside `tx` (planChanges, then its statements in one round
 * trip). @returns how many changes passed the version guard.
 */
export async function applyChanges(tx: Tx, tables: ViewTables, changes: readonly Change[]): Promise<number> {
  const planned = await planChanges(tx, tables, changes);
  if (planned.statements.length > 0) await sendTogether(tx, planned.statements);
  return planned.accepted;
}

/**
 * Applies the changes' own rows inside `tx`, every view but the summaries, and adds the summaries they
 * touch to `summaries`, for refreshSummariesApart once the caller has applied all it will: what an
 * event that is applied on its own (isolated, retried) does, so a summary the store refuses fails no
 * event. @returns how many changes passed the version guard.
 */
export async function applyOwnRows(
  tx: Tx,
  tables: ViewTables,
  changes: readonly Change[],
  summaries: SummaryScope,
): Promise<number> {
  const planned = await planChanges(tx, tables, changes, { summariesApart: true });
  if (planned.statements.length > 0) await sendTogether(tx, planned.statements);
  summaries.categoryIds.push(...planned.summaries.categoryIds);
  summaries.productIds.push(...planned.summaries.productIds);
  return planned.accepted;
}

/**
 * Splits accepted changes by kind and works out what else they touch, given the changed products' and
 * reviews' rows before the batch (`previous`, `previousReviews`, by id; absent = not in the view yet).
 */
export function splitAccepted(
  accepted: readonly Change[],
  previous: ReadonlyMap<string, StoredProduct> = new Map(),
  previousReviews: ReadonlyMap<string, StoredReview> = new Map(),
): AcceptedChanges {
  const split: AcceptedChanges = {
    categories: [],
    productUpserts: [],
    productDeletes: [],
    reviewUpserts: [],
    reviewDeletes: [],
    productCategoryIds: [],
    renamedProductIds: [],
    touchedProductIds: [],
    ratings: { deltas: [], recompute: [] },
    rollups: { reviews: [], moves: [] },
  };
  const newProductIds: string[] = [];
  const touched = new Set<string>();
  const categories = new Set<string>();
  for (const row of previous.values()) if (row.category_id) categories.add(row.category_id);
  for (const change of accepted) {
    const { id, version, eventTime } = change;
    if (change.aggregateType === 'category') {
      split.categories.push({ id, version, eventTime, state: change.state });
    } else if (change.aggregateType === 'product') {
      if (change.deleted) {
        split.productDeletes.push({ id, version, eventTime, categoryId: change.categoryId });
        if (change.categoryId) categories.add(change.categoryId);
      } else {
        split.productUpserts.push({ id, version, eventTime, state: change.state });
        if (change.state.categoryId) categories.add(change.state.categoryId);
        const before = previous.get(id);
        if (!before) {
          touched.add(id);
          newProductIds.push(id);
        }
        if (!before || before.name !== change.state.name || before.category_id !== change.state.categoryId) {
          split.renamedProductIds.push(id);
        }
      }
    } else if (change.deleted) {
      split.reviewDeletes.push({ id, version, eventTime, productId: change.productId });
      touched.add(change.productId);
    } else {
      split.reviewUpserts.push({ id, version, eventTime, state: change.state });
      touched.add(change.state.productId);
    }
  }
  split.ratings = planRatings(split.reviewUpserts, split.reviewDeletes, previousReviews, newProductIds);
  split.rollups = planRollups(split, previousReviews, previous);
  for (const id of split.ratings.recompute) touched.add(id);
  split.touchedProductIds = [...touched];
  split.productCategoryIds = [...categories];
  return split;
}
