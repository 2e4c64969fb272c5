import { categorySummaryStatement, touchedCategoriesStatement } from './views/category-summary.view.js';
import type { SummaryScope } from './views/category-summary.view.js';
import type { Tx, ViewTables } from './projection.types.js';
import { isStoreOutage } from '../shared/store-outage.js';

/** A category summary the store refused: it keeps its last value until a later recompute succeeds. */
export interface SummaryFailure {
  categoryId: string;
  error: Error;
}

/**
 * Recomputes the category summaries `scope` touches, apart from the events that touched them: all at
 * once in a savepoint, and when that fails, each category in a savepoint of its own. A category whose
 * summary still fails is rolled back alone and returned, while the events and every other summary
 * commit. Nothing is lost: the next event of that category, or a rebuild, recomputes it from the rows.
 * @throws a store outage (see isStoreOutage): the whole batch is redelivered.
 */
export async function refreshSummariesApart(
  tx: Tx,
  tables: ViewTables,
  scope: SummaryScope,
): Promise<SummaryFailure[]> {
  if (scope.categoryIds.length === 0 && scope.productIds.length === 0) return [];
  const statement = touchedCategoriesStatement(tables, scope);
  const touched = await tx.query<{ id: string }>(statement.text, [...statement.values]);
  const categoryIds = touched.rows.map((row) => row.id);
  if ((await inSavepoint(tx, tables, categoryIds)) === null) return [];
  const failures: SummaryFailure[] = [];
  for (const categoryId of categoryIds) {
    const error = await inSavepoint(tx, tables, [categoryId]);
    if (error) failures.push({ categoryId, error });
  }
  return failures;
}

/** Recomputes the summaries of `categoryIds` in a savepoint; returns the error it rolled back, if any. */
async function inSavepoint(tx: Tx, tables: ViewTables, categoryIds: string[]): Promise<Error | null> {
  const statement = categorySummaryStatement(tables, { categoryIds, productIds: [] });
  await tx.query('SAVEPOINT summaries');
  try {
    await tx.query(statement.text, [...statement.values]);
    await tx.query('RELEASE SAVEPOINT summaries');
    return null;
  } catch (error) {
    if (isStoreOutage(error)) throw error;
    await tx.query('ROLLBACK TO SAVEPOINT summaries');
    return error as Error;
  }
}
