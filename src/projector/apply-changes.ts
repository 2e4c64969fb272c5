import type { AcceptedChanges, Change, Tx, ViewTables } from './projection.types.js';
import { arrayLiteral } from '../shared/postgres.js';
import { dedupeChanges } from './batch-plan.js';
import { acceptNewer } from './version-guard.js';
import { planRatings, type StoredReview } from './rating-delta.js';
import { VIEWS } from './views/index.js';

/**
 * Applies a batch of changes to the views inside `tx`: keeps the newest change per aggregate, lets the
 * version guard drop what is not newer than what was applied, then runs every view set-based over
 * what is left. Idempotent: applying the same changes again changes nothing.
 * @returns how many changes passed the version guard.
 */
export async function applyChanges(tx: Tx, tables: ViewTables, changes: readonly Change[]): Promise<number> {
  const accepted = await acceptNewer(tx, tables, dedupeChanges(changes));
  if (accepted.length === 0) return 0;
  const productIds = accepted.filter((c) => c.aggregateType === 'product').map((c) => c.id);
  const previous = new Map<string, { name: string; category_id: string | null }>();
  if (productIds.length > 0) {
    const rows = await tx.query<{ id: string; name: string; category_id: string | null }>(
      `SELECT id, name, category_id FROM ${tables.productSummary} WHERE id = ANY($1::uuid[])`,
      [arrayLiteral(productIds)],
    );
    for (const row of rows.rows) previous.set(row.id, row);
  }
  const reviewIds = accepted.filter((c) => c.aggregateType === 'review').map((c) => c.id);
  const previousReviews = new Map<string, StoredReview>();
  if (reviewIds.length > 0) {
    const rows = await tx.query<{ id: string; product_id: string; rating: number; created_at: Date }>(
      `SELECT id, product_id, rating, created_at FROM ${tables.reviewView} WHERE id = ANY($1::uuid[])`,
      [arrayLiteral(reviewIds)],
    );
    for (const row of rows.rows)
      previousReviews.set(row.id, {
        productId: row.product_id,
        rating: row.rating,
        createdAt: row.created_at,
      });
  }
  const split = splitAccepted(accepted, previous, previousReviews);
  const kinds = new Set(accepted.map((c) => c.aggregateType));
  for (const view of VIEWS) {
    if (view.handles.some((kind) => kinds.has(kind))) await view.apply(tx, split, tables);
  }
  return accepted.length;
}

/**
 * Splits accepted changes by kind and works out what else they touch, given the changed products' and
 * reviews' rows before the batch (`previous`, `previousReviews`, by id; absent = not in the view yet).
 */
export function splitAccepted(
  accepted: readonly Change[],
  previous: ReadonlyMap<string, { name: string; category_id: string | null }> = new Map(),
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
  for (const id of split.ratings.recompute) touched.add(id);
  split.touchedProductIds = [...touched];
  split.productCategoryIds = [...categories];
  return split;
}
