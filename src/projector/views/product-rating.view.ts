import type { ViewModule } from '../projection.types.js';

/**
 * product_summary, rating columns: recomputed from review_view for every product touched by the batch
 * (changed products and the products of changed reviews). Recomputing instead of incrementing keeps it
 * idempotent and independent of the order reviews and products arrive in.
 */
export const productRatingView: ViewModule = {
  name: 'product_summary.rating',
  handles: ['product', 'review'],
  async apply(tx, changes, tables) {
    if (changes.touchedProductIds.length === 0) return;
    await tx.query(
      `UPDATE ${tables.productSummary} p
       SET review_count = s.review_count, rating_sum = s.rating_sum, average_rating = s.average_rating,
           rating_histogram = s.rating_histogram, last_review_at = s.last_review_at
       FROM (
         SELECT t.id,
           count(r.id)::int AS review_count,
           coalesce(sum(r.rating), 0)::int AS rating_sum,
           round(avg(r.rating), 4) AS average_rating,
           ARRAY[count(*) FILTER (WHERE r.rating = 1), count(*) FILTER (WHERE r.rating = 2),
                 count(*) FILTER (WHERE r.rating = 3), count(*) FILTER (WHERE r.rating = 4),
                 count(*) FILTER (WHERE r.rating = 5)]::int[] AS rating_histogram,
           max(r.created_at) AS last_review_at
         FROM unnest($1::uuid[]) AS t(id)
         LEFT JOIN ${tables.reviewView} r ON r.product_id = t.id
         GROUP BY t.id
       ) s
       WHERE p.id = s.id
         -- A new product without reviews, or a review edit that kept its rating, changes nothing:
         -- skipping those rows spares a new row version and its index entries.
         AND (p.review_count, p.rating_sum, p.average_rating, p.rating_histogram, p.last_review_at)
           IS DISTINCT FROM (s.review_count, s.rating_sum, s.average_rating, s.rating_histogram, s.last_review_at)`,
      [changes.touchedProductIds],
    );
  },
};
