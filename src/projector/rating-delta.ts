import type { ReviewState } from '../contracts/review.events.js';

/** A review as review_view held it before the batch. */
export interface StoredReview {
  productId: string;
  rating: number;
  /** ISO 8601 or a Date from pg: compared as instants. */
  createdAt: string | Date;
}

/** What one product's rating summary gains (or loses) from a batch, applied as increments. */
interface RatingDelta {
  productId: string;
  count: number;
  sum: number;
  /** Per rating 1..5. */
  histogram: [number, number, number, number, number];
  /** The newest created_at among added reviews (last_review_at only moves forward by increments). */
  newestAt: string | null;
}

export interface RatingPlan {
  deltas: RatingDelta[];
  /** Products whose summary is recomputed from review_view instead (see planRatings). */
  recompute: string[];
}

/**
 * Works out how the batch's accepted review changes move each product's rating summary. Increments
 * keep the cost of a review event constant however many reviews its product has (recomputing read
 * them all, and sustained load slowed as products gathered reviews). A product is recomputed instead
 * when increments cannot say the result: it is new to the view (its reviews may have come first),
 * a review of it was deleted (last_review_at may move back), or a review moved to another product or
 * changed its creation time. Exact because the version guard passes each change once, in the batch's
 * transaction, and `previous` is read in that transaction before review_view changes.
 */
export function planRatings(
  upserts: readonly { id: string; state: ReviewState }[],
  deletes: readonly { id: string; productId: string }[],
  previous: ReadonlyMap<string, StoredReview>,
  newProductIds: readonly string[],
): RatingPlan {
  const recompute = new Set<string>(newProductIds);
  for (const review of deletes) recompute.add(previous.get(review.id)?.productId ?? review.productId);
  const deltas = new Map<string, RatingDelta>();
  const deltaOf = (productId: string): RatingDelta => {
    let delta = deltas.get(productId);
    if (!delta) {
      delta = { productId, count: 0, sum: 0, histogram: [0, 0, 0, 0, 0], newestAt: null };
      deltas.set(productId, delta);
    }
    return delta;
  };
  for (const { id, state } of upserts) {
    const before = previous.get(id);
    if (before && (before.productId !== state.productId || !sameInstant(before.createdAt, state.createdAt))) {
      recompute.add(before.productId);
      recompute.add(state.productId);
      continue;
    }
    const delta = deltaOf(state.productId);
    if (before) {
      delta.count -= 1;
      delta.sum -= before.rating;
      delta.histogram[before.rating - 1]! -= 1;
    }
    delta.count += 1;
    delta.sum += state.rating;
    delta.histogram[state.rating - 1]! += 1;
    // An edit keeps its creation time (else it was recomputed above): only new reviews move it.
    if (!before && (delta.newestAt === null || Date.parse(state.createdAt) > Date.parse(delta.newestAt)))
      delta.newestAt = state.createdAt;
  }
  return {
    // An edit that kept its rating changes nothing: no row version for it.
    deltas: [...deltas.values()].filter(
      (d) => !recompute.has(d.productId) && (d.count !== 0 || d.histogram.some((n) => n !== 0)),
    ),
    recompute: [...recompute],
  };
}

function sameInstant(a: string | Date, b: string): boolean {
  return (a instanceof Date ? a.getTime() : Date.parse(a)) === Date.parse(b);
}
