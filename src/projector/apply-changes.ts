import type { AcceptedChanges, Change, Tx, ViewTables } from './projection.types.js';
import { dedupeChanges } from './batch-plan.js';
import { acceptNewer } from './version-guard.js';
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
  const split = splitAccepted(accepted);
  const productIds = [...split.productUpserts, ...split.productDeletes].map((p) => p.id);
  if (productIds.length > 0) {
    const previous = await tx.query<{ category_id: string }>(
      `SELECT DISTINCT category_id FROM ${tables.productSummary}
       WHERE id = ANY($1::uuid[]) AND category_id IS NOT NULL`,
      [productIds],
    );
    split.previousCategoryIds = previous.rows.map((row) => row.category_id);
  }
  const kinds = new Set(accepted.map((c) => c.aggregateType));
  for (const view of VIEWS) {
    if (view.handles.some((kind) => kinds.has(kind))) await view.apply(tx, split, tables);
  }
  return accepted.length;
}

/** Splits accepted changes by kind and lists the products whose rating summary must be recomputed. */
export function splitAccepted(accepted: readonly Change[]): AcceptedChanges {
  const split: AcceptedChanges = {
    categories: [],
    productUpserts: [],
    productDeletes: [],
    reviewUpserts: [],
    reviewDeletes: [],
    previousCategoryIds: [],
    touchedProductIds: [],
  };
  const touched = new Set<string>();
  for (const change of accepted) {
    const base = { id: change.id, version: change.version, eventTime: change.eventTime };
    if (change.aggregateType === 'category') {
      split.categories.push({ ...base, state: change.state });
    } else if (change.aggregateType === 'product') {
      if (change.deleted) split.productDeletes.push({ ...base, categoryId: change.categoryId });
      else {
        split.productUpserts.push({ ...base, state: change.state });
        touched.add(change.id);
      }
    } else if (change.deleted) {
      split.reviewDeletes.push({ ...base, productId: change.productId });
      touched.add(change.productId);
    } else {
      split.reviewUpserts.push({ ...base, state: change.state });
      touched.add(change.state.productId);
    }
  }
  split.touchedProductIds = [...touched];
  return split;
}
