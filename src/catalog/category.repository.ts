import type { Kysely, Transaction } from 'kysely';
import type { CategoryState } from '../contracts/catalog.events.js';
import type { CatalogDb, CategoryRow } from './catalog.tables.js';

/** A category as the catalog serves it: the event's full state plus its version. */
export type Category = CategoryState & { version: number };

function toCategory(row: CategoryRow): Category {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    version: row.version,
  };
}

export async function findCategory(db: Kysely<CatalogDb>, id: string): Promise<Category | undefined> {
  const row = await db.selectFrom('categories').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toCategory(row);
}

/** Reads a category and locks its row until the transaction ends. */
export async function lockCategory(trx: Transaction<CatalogDb>, id: string): Promise<Category | undefined> {
  const row = await trx
    .selectFrom('categories')
    .selectAll()
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  return row && toCategory(row);
}

export async function insertCategory(trx: Transaction<CatalogDb>, category: Category): Promise<void> {
  await trx
    .insertInto('categories')
    .values({
      id: category.id,
      name: category.name,
      description: category.description,
      version: category.version,
      created_at: new Date(category.createdAt),
      updated_at: new Date(category.updatedAt),
    })
    .execute();
}

export async function saveCategory(trx: Transaction<CatalogDb>, category: Category): Promise<void> {
  await trx
    .updateTable('categories')
    .set({
      name: category.name,
      description: category.description,
      version: category.version,
      updated_at: new Date(category.updatedAt),
    })
    .where('id', '=', category.id)
    .execute();
}

export async function listCategories(
  db: Kysely<CatalogDb>,
  after: string | undefined,
  limit: number,
): Promise<Category[]> {
  let query = db.selectFrom('categories').selectAll().orderBy('id').limit(limit);
  if (after) query = query.where('id', '>', after);
  return (await query.execute()).map(toCategory);
}
