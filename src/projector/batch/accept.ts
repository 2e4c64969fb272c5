import type { Change, Tx, ViewTables } from '../projection.types.js';
import { arrayLiteral } from '../../shared/postgres.js';
import type { StoredReview } from '../rating-delta.js';

/** A product's row in product_summary before the batch: what decides whether its reviews' copies change. */
export interface StoredProduct {
  name: string;
  category_id: string | null;
}

export interface Accepted {
  /** The changes newer than what applied_versions recorded: only those may touch the views. */
  changes: Change[];
  /** The view rows of the accepted products and reviews before this batch, by id (absent = not in the view). */
  previousProducts: Map<string, StoredProduct>;
  previousReviews: Map<string, StoredReview>;
}

/**
 * Records the versions of `changes` in applied_versions and returns the changes that were newer than
 * what was recorded, with the product_summary and review_view rows they are about to replace. A
 * delete leaves a tombstone (deleted = true) so a late, older update never brings the row back. One
 * statement, one round trip, for the whole batch. `changes` must hold at most one change per aggregate
 * (see dedupeChanges).
 */
export async function acceptNewer(tx: Tx, tables: ViewTables, changes: readonly Change[]): Promise<Accepted> {
  const accepted: Accepted = { changes: [], previousProducts: new Map(), previousReviews: new Map() };
  if (changes.length === 0) return accepted;
  const productIds: string[] = [];
  const reviewIds: string[] = [];
  for (const c of changes) {
    if (c.aggregateType === 'product') productIds.push(c.id);
    else if (c.aggregateType === 'review') reviewIds.push(c.id);
  }
  // The view rows of every changed product and review are read, accepted or not, and filtered here:
  // read by `= ANY` they stay index lookups, where a join with the INSERT's output is planned blind
  // (it was measurably slower on the catch-up stream).
  const result = await tx.query<{
    kind: 'accepted' | 'product' | 'review';
    type: string | null;
    id: string;
    name: string | null;
    category_id: string | null;
    product_id: string | null;
    rating: number | null;
    created_at: Date | null;
  }>(
    `WITH accepted AS (
       INSERT INTO ${tables.appliedVersions} AS av (aggregate_type, aggregate_id, version, deleted, event_time)
       SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::boolean[], $5::timestamptz[])
       ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
         SET version = excluded.version, deleted = excluded.deleted,
             event_time = excluded.event_time, applied_at = now()
         WHERE av.version < excluded.version
       RETURNING aggregate_type, aggregate_id
     )
     SELECT 'accepted' AS kind, aggregate_type AS type, aggregate_id AS id, NULL AS name,
       NULL::uuid AS category_id, NULL::uuid AS product_id, NULL::smallint AS rating,
       NULL::timestamptz AS created_at
     FROM accepted
     UNION ALL
     SELECT 'product', NULL, id, name, category_id, NULL, NULL, NULL
     FROM ${tables.productSummary} WHERE id = ANY($6::uuid[])
     UNION ALL
     SELECT 'review', NULL, id, NULL, NULL, product_id, rating, created_at
     FROM ${tables.reviewView} WHERE id = ANY($7::uuid[])`,
    [
      arrayLiteral(changes.map((c) => c.aggregateType)),
      arrayLiteral(changes.map((c) => c.id)),
      arrayLiteral(changes.map((c) => c.version)),
      arrayLiteral(changes.map((c) => c.deleted)),
      arrayLiteral(changes.map((c) => c.eventTime)),
      arrayLiteral(productIds),
      arrayLiteral(reviewIds),
    ],
  );
  const ids = new Set<string>();
  for (const row of result.rows) if (row.kind === 'accepted') ids.add(`${row.type}:${row.id}`);
  for (const row of result.rows) {
    if (!ids.has(`${row.kind}:${row.id}`)) continue; // the row of a change that was not accepted
    if (row.kind === 'product')
      accepted.previousProducts.set(row.id, { name: row.name!, category_id: row.category_id });
    else if (row.kind === 'review')
      accepted.previousReviews.set(row.id, {
        productId: row.product_id!,
        rating: row.rating!,
        createdAt: row.created_at!,
      });
  }
  accepted.changes = changes.filter((c) => ids.has(`${c.aggregateType}:${c.id}`));
  return accepted;
}

/**
 * Keeps only the newest version of each aggregate in a batch: events carry full state, so older ones
 * in the same batch add nothing. Order of the result follows the first appearance of each aggregate.
 */
export function dedupeChanges(changes: readonly Change[]): Change[] {
  const newest = new Map<string, Change>();
  for (const change of changes) {
    const key = `${change.aggregateType}:${change.id}`;
    const seen = newest.get(key);
    if (!seen || change.version > seen.version) newest.set(key, change);
  }
  return [...newest.values()];
}
