import type { ViewModule } from '../projection.types.js';
import { arrayLiteral, statement, type Statement } from '../../shared/postgres.js';

/**
 * product_summary, product fields: upserts the newest state of each changed product (with its category's
 * name when the category is known) and removes deleted products. The rating columns are left to
 * productRatingView, which recomputes them from review_view.
 */
export const productSummaryView: ViewModule = {
  name: 'product_summary',
  handles: ['product'],
  statements(changes, tables) {
    const statements: Statement[] = [];
    const rows = changes.productUpserts;
    if (rows.length > 0) {
      statements.push(
        statement(
          `INSERT INTO ${tables.productSummary} AS p (id, sku, name, description, category_id, category_name,
           price_amount, price_currency, attributes, created_at, updated_at, version)
         SELECT u.id, u.sku, u.name, u.description, u.category_id, c.name, u.price_amount, u.price_currency,
           u.attributes, u.created_at, u.updated_at, u.version
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::bigint[], $7::text[],
           $8::jsonb[], $9::timestamptz[], $10::timestamptz[], $11::bigint[])
           AS u(id, sku, name, description, category_id, price_amount, price_currency, attributes,
                created_at, updated_at, version)
         LEFT JOIN ${tables.categoryView} c ON c.id = u.category_id
         ON CONFLICT (id) DO UPDATE SET sku = excluded.sku, name = excluded.name,
           description = excluded.description, category_id = excluded.category_id,
           category_name = excluded.category_name, price_amount = excluded.price_amount,
           price_currency = excluded.price_currency, attributes = excluded.attributes,
           created_at = excluded.created_at, updated_at = excluded.updated_at, version = excluded.version`,
          [
            arrayLiteral(rows.map((r) => r.id)),
            arrayLiteral(rows.map((r) => r.state.sku)),
            arrayLiteral(rows.map((r) => r.state.name)),
            arrayLiteral(rows.map((r) => r.state.description)),
            arrayLiteral(rows.map((r) => r.state.categoryId)),
            arrayLiteral(rows.map((r) => r.state.price.amount)),
            arrayLiteral(rows.map((r) => r.state.price.currency)),
            arrayLiteral(rows.map((r) => JSON.stringify(r.state.attributes))),
            arrayLiteral(rows.map((r) => r.state.createdAt)),
            arrayLiteral(rows.map((r) => r.state.updatedAt)),
            arrayLiteral(rows.map((r) => r.version)),
          ],
        ),
      );
    }
    if (changes.productDeletes.length > 0) {
      statements.push(
        statement(`DELETE FROM ${tables.productSummary} WHERE id = ANY($1::uuid[])`, [
          arrayLiteral(changes.productDeletes.map((r) => r.id)),
        ]),
      );
    }
    return statements;
  },
};
