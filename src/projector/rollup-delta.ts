import type { ReviewState } from '../contracts/review.events.js';
import type { StoredReview } from './rating-delta.js';

/** One review entering (+1) or leaving (-1) the rollups: the row review_view gains or loses. */
interface ReviewContribution {
  productId: string;
  /** ISO 8601 or a Date from pg; the store takes its UTC day. */
  createdAt: string | Date;
  rating: number;
  sign: 1 | -1;
}

/** Where a product sat in product_summary before and after the batch: absent, or in a category (or none). */
interface ProductPlacement {
  exists: boolean;
  categoryId: string | null;
}

/** A product whose reviews count towards another category_day_rollup key after the batch. */
interface ProductMove {
  productId: string;
  before: ProductPlacement;
  after: ProductPlacement;
}

export interface RollupPlan {
  reviews: ReviewContribution[];
  moves: ProductMove[];
}

/**
 * Works out how the batch's accepted changes move the rollups: every accepted review change takes its
 * old row out (when review_view held one) and puts its new row in, so re-ratings, deletes and reviews
 * that change product or day all follow; and every accepted product change that creates, deletes or
 * recategorises a product moves its reviews between category keys. Exact because the version guard
 * passes each change once, in the batch's transaction, and the previous rows are read in that
 * transaction before the views change.
 */
export function planRollups(
  changes: {
    reviewUpserts: readonly { id: string; state: ReviewState }[];
    reviewDeletes: readonly { id: string }[];
    productUpserts: readonly { id: string; state: { categoryId: string | null } }[];
    productDeletes: readonly { id: string }[];
  },
  previousReviews: ReadonlyMap<string, StoredReview>,
  previousProducts: ReadonlyMap<string, { category_id: string | null }>,
): RollupPlan {
  const reviews: ReviewContribution[] = [];
  const takeOut = (id: string) => {
    const before = previousReviews.get(id);
    if (before) reviews.push({ ...before, sign: -1 });
  };
  for (const { id, state } of changes.reviewUpserts) {
    takeOut(id);
    reviews.push({ productId: state.productId, createdAt: state.createdAt, rating: state.rating, sign: 1 });
  }
  for (const { id } of changes.reviewDeletes) takeOut(id);

  const moves: ProductMove[] = [];
  const place = (id: string, after: ProductPlacement) => {
    const stored = previousProducts.get(id);
    const before = { exists: stored !== undefined, categoryId: stored?.category_id ?? null };
    if (before.exists !== after.exists || before.categoryId !== after.categoryId)
      moves.push({ productId: id, before, after });
  };
  for (const { id, state } of changes.productUpserts)
    place(id, { exists: true, categoryId: state.categoryId });
  for (const { id } of changes.productDeletes) place(id, { exists: false, categoryId: null });
  return { reviews, moves };
}
