import type { Transaction } from 'kysely';
import { assertAttributesSize } from '../contracts/bounds.js';
import {
  ProductCreatedV1,
  ProductDeletedV1,
  ProductUpdatedV1,
  type ProductDeleted,
  type ProductState,
} from '../contracts/catalog.events.js';
import { LocusError } from '../shared/errors.js';
import type { CatalogDb } from './catalog.tables.js';
import {
  deleteProductRow,
  insertProduct,
  lockProduct,
  saveProduct,
  type Product,
} from './product.repository.js';
import { assertVersion } from './versioning.js';
import { recordEvent, type WriteContext } from './write-context.js';

/** The fields a client sets; everything else (id, version, timestamps) is the catalog's. */
export type ProductFields = Pick<
  ProductState,
  'sku' | 'name' | 'description' | 'categoryId' | 'price' | 'attributes'
>;

function stateOf(product: Product): ProductState {
  const { version: _version, ...state } = product;
  return state;
}

// The one bound the route schemas cannot express (a serialized size); named as the client sent it.
function checkAttributes(attributes: ProductFields['attributes'] | undefined): void {
  if (attributes !== undefined) assertAttributesSize(attributes, 'body/attributes');
}

/**
 * Creates a product at version 1 and records `product.created.v1` with its full state.
 * Duplicate SKU and unknown category surface as constraint violations (see pg-errors.ts).
 * @throws LocusError LOCUS_VALIDATION (`body/attributes`) when the attributes are too large.
 */
export async function createProduct(
  trx: Transaction<CatalogDb>,
  context: WriteContext,
  fields: ProductFields,
): Promise<Product> {
  checkAttributes(fields.attributes);
  const now = context.clock.now().toISOString();
  const product: Product = { id: context.newId(), ...fields, createdAt: now, updatedAt: now, version: 1 };
  await insertProduct(trx, product);
  await recordEvent(trx, context, {
    definition: ProductCreatedV1,
    topic: context.topics.products,
    aggregateId: product.id,
    version: 1,
    data: stateOf(product),
    time: new Date(now),
  });
  return product;
}

async function lockExisting(trx: Transaction<CatalogDb>, id: string, expected: number | undefined) {
  const current = await lockProduct(trx, id);
  if (!current) throw new LocusError('LOCUS_PRODUCT_NOT_FOUND', `no product ${id}`);
  assertVersion(expected, current.version, `product ${id}`);
  return current;
}

/**
 * Applies `changes` to the product under its row lock, bumps the version by one and records
 * `product.updated.v1` with the full new state.
 * @throws LocusError LOCUS_PRODUCT_NOT_FOUND, or LOCUS_VERSION_CONFLICT when `expected` is stale;
 *   LOCUS_VALIDATION (`body/attributes`) when the attributes are too large.
 */
export async function updateProduct(
  trx: Transaction<CatalogDb>,
  context: WriteContext,
  id: string,
  expected: number | undefined,
  changes: Partial<ProductFields>,
): Promise<Product> {
  checkAttributes(changes.attributes);
  const current = await lockExisting(trx, id, expected);
  const next: Product = {
    ...current,
    ...changes,
    id,
    version: current.version + 1,
    updatedAt: context.clock.now().toISOString(),
  };
  await saveProduct(trx, next);
  await recordEvent(trx, context, {
    definition: ProductUpdatedV1,
    topic: context.topics.products,
    aggregateId: id,
    version: next.version,
    data: stateOf(next),
    time: new Date(next.updatedAt),
  });
  return next;
}

/**
 * Deletes the product and records `product.deleted.v1` (carrying its categoryId, so the category's
 * summary can be corrected) at version current + 1.
 * @returns the version the deletion event carries.
 * @throws LocusError LOCUS_PRODUCT_NOT_FOUND, or LOCUS_VERSION_CONFLICT when `expected` is stale.
 */
export async function deleteProduct(
  trx: Transaction<CatalogDb>,
  context: WriteContext,
  id: string,
  expected: number | undefined,
): Promise<number> {
  const current = await lockExisting(trx, id, expected);
  const version = current.version + 1;
  const deletedAt = context.clock.now();
  await deleteProductRow(trx, id);
  await recordEvent<ProductDeleted>(trx, context, {
    definition: ProductDeletedV1,
    topic: context.topics.products,
    aggregateId: id,
    version,
    data: { id, categoryId: current.categoryId, deletedAt: deletedAt.toISOString() },
    time: deletedAt,
  });
  return version;
}
