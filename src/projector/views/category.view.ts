import type { ViewModule } from '../projection.types.js';
import { arrayLiteral, statement, type Statement } from '../../shared/postgres.js';

/** category_view: one row per category; also refreshes the denormalised category name of its products. */
export const categoryView: ViewModule = {
  name: 'category_view',
  handles: ['category'],
  statements(changes, tables) {
    const statements: Statement[] = [];
    const rows = changes.categories;
    if (rows.length === 0) return statements;
    statements.push(
      statement(
        `INSERT INTO ${tables.categoryView} AS c (id, name, description, version, created_at, updated_at)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::timestamptz[])
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
         version = excluded.version, created_at = excluded.created_at, updated_at = excluded.updated_at`,
        [
          arrayLiteral(rows.map((r) => r.id)),
          arrayLiteral(rows.map((r) => r.state.name)),
          arrayLiteral(rows.map((r) => r.state.description)),
          arrayLiteral(rows.map((r) => r.version)),
          arrayLiteral(rows.map((r) => r.state.createdAt)),
          arrayLiteral(rows.map((r) => r.state.updatedAt)),
        ],
      ),
    );
    // Products that arrived before their category (or whose category was renamed) get the name now.
    statements.push(
      statement(
        `UPDATE ${tables.productSummary} p SET category_name = c.name
       FROM ${tables.categoryView} c
       WHERE c.id = ANY($1::uuid[]) AND p.category_id = c.id AND p.category_name IS DISTINCT FROM c.name`,
        [arrayLiteral(rows.map((r) => r.id))],
      ),
    );
    return statements;
  },
};
