import type { Kysely, Transaction } from 'kysely';
import type { ProductState } from '../contracts/catalog.events.js';
import type { CatalogDb, ProductRow } from './catalog.tables.js';

/** A product as the catalog serves it: the event's full state plus its version. */
export type Product = ProductState & { version: number };

function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    description: row.description,
    categoryId: row.category_id,
    price: { amount: row.price_amount, currency: row.price_currency },
    attributes: row.attributes,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    version: row.version,
  };
}

function toRow(product: Product) {
  return {
    id: product.id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    category_id: product.categoryId,
    price_amount: product.price.amount,
    price_currency: product.price.currency,
    attributes: JSON.stringify(product.attributes),
    version: product.version,
    created_at: new Date(product.createdAt),
    updated_at: new Date(product.updatedAt),
  };
}

export async function findProduct(db: Kysely<CatalogDb>, id: string): Promise<Product | undefined> {
  const row = await db.selectFrom('products').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toProduct(row);
}

/** Reads a product and locks its row until the transaction ends, so writes to it serialise. */
export async function lockProduct(trx: Transaction<CatalogDb>, id: string): Promise<Product | undefined> {
  const row = await trx
    .selectFrom('products')
    .selectAll()
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  return row && toProduct(row);
}

export async function insertProduct(trx: Transaction<CatalogDb>, product: Product): Promise<void> {
  await trx.insertInto('products').values(toRow(product)).execute();
}

/** Overwrites a locked product's row with its next state (the caller has bumped the version). */
export async function saveProduct(trx: Transaction<CatalogDb>, product: Product): Promise<void> {
  const { id: _id, created_at: _created, ...changes } = toRow(product);
  await trx.updateTable('products').set(changes).where('id', '=', product.id).execute();
}

export async function deleteProductRow(trx: Transaction<CatalogDb>, id: string): Promise<void> {
  await trx.deleteFrom('products').where('id', '=', id).execute();
}

/** Products ordered by id, after `after` (keyset pagination for the export endpoint). */
export async function listProducts(
  db: Kysely<CatalogDb>,
  after: string | undefined,
  limit: number,
): Promise<Product[]> {
  let query = db.selectFrom('products').selectAll().orderBy('id').limit(limit);
  if (after) query = query.where('id', '>', after);
  return (await query.execute()).map(toProduct);
}
