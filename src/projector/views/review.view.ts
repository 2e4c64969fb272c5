import type { ViewModule } from '../projection.types.js';
import { arrayLiteral, statement, type Statement } from '../../shared/postgres.js';

/**
 * review_view: one row per live review, denormalised with its product's name and category. A review
 * that arrives before its product is stored with both null; they are filled when the product arrives.
 */
export const reviewView: ViewModule = {
  name: 'review_view',
  handles: ['review', 'product'],
  statements(changes, tables) {
    const statements: Statement[] = [];
    const rows = changes.reviewUpserts;
    if (rows.length > 0) {
      statements.push(
        statement(
          `INSERT INTO ${tables.reviewView} AS r (id, product_id, author, rating, title, body, created_at,
           updated_at, version, product_name, category_id)
         SELECT u.id, u.product_id, u.author, u.rating, u.title, u.body, u.created_at, u.updated_at,
           u.version, p.name, p.category_id
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::smallint[], $5::text[], $6::text[],
           $7::timestamptz[], $8::timestamptz[], $9::bigint[])
           AS u(id, product_id, author, rating, title, body, created_at, updated_at, version)
         LEFT JOIN ${tables.productSummary} p ON p.id = u.product_id
         ON CONFLICT (id) DO UPDATE SET product_id = excluded.product_id, author = excluded.author,
           rating = excluded.rating, title = excluded.title, body = excluded.body,
           created_at = excluded.created_at, updated_at = excluded.updated_at, version = excluded.version,
           product_name = excluded.product_name, category_id = excluded.category_id`,
          [
            arrayLiteral(rows.map((r) => r.id)),
            arrayLiteral(rows.map((r) => r.state.productId)),
            arrayLiteral(rows.map((r) => r.state.author)),
            arrayLiteral(rows.map((r) => r.state.rating)),
            arrayLiteral(rows.map((r) => r.state.title)),
            arrayLiteral(rows.map((r) => r.state.body)),
            arrayLiteral(rows.map((r) => r.state.createdAt)),
            arrayLiteral(rows.map((r) => r.state.updatedAt)),
            arrayLiteral(rows.map((r) => r.version)),
          ],
        ),
      );
    }
    if (changes.reviewDeletes.length > 0) {
      statements.push(
        statement(`DELETE FROM ${tables.reviewView} WHERE id = ANY($1::uuid[])`, [
          arrayLiteral(changes.reviewDeletes.map((r) => r.id)),
        ]),
      );
    }
    if (changes.productDeletes.length > 0) {
      // Reviews outlive a deleted product here; they stop naming it, whatever order events came in.
      statements.push(
        statement(
          `UPDATE ${tables.reviewView} SET product_name = NULL, category_id = NULL
         WHERE product_id = ANY($1::uuid[]) AND (product_name IS NOT NULL OR category_id IS NOT NULL)`,
          [arrayLiteral(changes.productDeletes.map((r) => r.id))],
        ),
      );
    }
    if (changes.renamedProductIds.length > 0) {
      // The product's name or category changed, or the product arrived after its reviews.
      statements.push(
        statement(
          `UPDATE ${tables.reviewView} r SET product_name = p.name, category_id = p.category_id
         FROM ${tables.productSummary} p
         WHERE p.id = ANY($1::uuid[]) AND r.product_id = p.id
           AND (r.product_name IS DISTINCT FROM p.name OR r.category_id IS DISTINCT FROM p.category_id)`,
          [arrayLiteral(changes.renamedProductIds)],
        ),
      );
    }
    return statements;
  },
};
