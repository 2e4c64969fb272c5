import type { Transaction } from 'kysely';
import { CategoryCreatedV1, CategoryUpdatedV1, type CategoryState } from '../contracts/catalog.events.js';
import { LocusError } from '../shared/errors.js';
import type { CatalogDb } from './catalog.tables.js';
import { insertCategory, lockCategory, saveCategory, type Category } from './category.repository.js';
import { assertVersion } from './versioning.js';
import { recordEvent, type WriteContext } from './write-context.js';

export type CategoryFields = Pick<CategoryState, 'name' | 'description'>;

function stateOf(category: Category): CategoryState {
  const { version: _version, ...state } = category;
  return state;
}

/** Creates a category at version 1 and records `category.created.v1`. Duplicate names violate a constraint. */
export async function createCategory(
  trx: Transaction<CatalogDb>,
  context: WriteContext,
  fields: CategoryFields,
): Promise<Category> {
  const now = context.clock.now().toISOString();
  const category: Category = { id: context.newId(), ...fields, createdAt: now, updatedAt: now, version: 1 };
  await insertCategory(trx, category);
  await recordEvent(trx, context, {
    definition: CategoryCreatedV1,
    topic: context.topics.categories,
    aggregateId: category.id,
    version: 1,
    data: stateOf(category),
    time: new Date(now),
  });
  return category;
}

/**
 * Applies `changes` under the row lock, bumps the version and records `category.updated.v1`.
 * @throws LocusError LOCUS_CATEGORY_NOT_FOUND, or LOCUS_VERSION_CONFLICT when `expected` is stale.
 */
export async function updateCategory(
  trx: Transaction<CatalogDb>,
  context: WriteContext,
  id: string,
  expected: number | undefined,
  changes: Partial<CategoryFields>,
): Promise<Category> {
  const current = await lockCategory(trx, id);
  if (!current) throw new LocusError('LOCUS_CATEGORY_NOT_FOUND', `no category ${id}`);
  assertVersion(expected, current.version, `category ${id}`);
  const next: Category = {
    ...current,
    ...changes,
    id,
    version: current.version + 1,
    updatedAt: context.clock.now().toISOString(),
  };
  await saveCategory(trx, next);
  await recordEvent(trx, context, {
    definition: CategoryUpdatedV1,
    topic: context.topics.categories,
    aggregateId: id,
    version: next.version,
    data: stateOf(next),
    time: new Date(next.updatedAt),
  });
  return next;
}
