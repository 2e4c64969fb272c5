import type { ViewModule } from '../projection.types.js';
import { arrayLiteral, statement, type Statement } from '../../shared/postgres.js';

/**
 * product_summary, rating columns. Review upserts move them by increments (count, sum, histogram,
 * newest review), so a review event costs the same however many reviews its product has; products
 * new to the view, and products where increments cannot tell (a deleted review, a review moved), are
 * recomputed from review_view. See planRatings. Idempotent because only changes newer than what
 * applied_versions recorded get here, once, inside the batch's transaction.
 */
export const productRatingView: ViewModule = {
  name: 'product_summary.rating',
  handles: ['product', 'review'],
  statements(changes, tables) {
    const statements: Statement[] = [];
    const { deltas, recompute } = changes.ratings;
    if (deltas.length > 0) {
      statements.push(
        statement(
          `UPDATE ${tables.productSummary} p
         SET review_count = p.review_count + d.count, rating_sum = p.rating_sum + d.sum,
             average_rating = CASE WHEN p.review_count + d.count > 0
               THEN round((p.rating_sum + d.sum)::numeric / (p.review_count + d.count), 4) END,
             rating_histogram = ARRAY[p.rating_histogram[1] + d.h1, p.rating_histogram[2] + d.h2,
               p.rating_histogram[3] + d.h3, p.rating_histogram[4] + d.h4, p.rating_histogram[5] + d.h5],
             last_review_at = GREATEST(p.last_review_at, d.newest_at)
         FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[],
           $9::timestamptz[]) AS d(id, count, sum, h1, h2, h3, h4, h5, newest_at)
         WHERE p.id = d.id`,
          [
            arrayLiteral(deltas.map((d) => d.productId)),
            arrayLiteral(deltas.map((d) => d.count)),
            arrayLiteral(deltas.map((d) => d.sum)),
            ...[0, 1, 2, 3, 4].map((k) => arrayLiteral(deltas.map((d) => d.histogram[k]))),
            arrayLiteral(deltas.map((d) => d.newestAt)),
          ],
        ),
      );
    }
    if (recompute.length === 0) return statements;
    statements.push(
      statement(
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
        [arrayLiteral(recompute)],
      ),
    );
    return statements;
  },
};
