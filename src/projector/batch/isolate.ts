import type { IncomingMessage } from '../../messaging/kafka.js';
import type { Logger } from '../../shared/logger.js';
import { applyOwnRows } from '../apply-changes.js';
import type { NewDeadLetter } from '../dead-letter.repository.js';
import type { Change, Tx, ViewTables } from '../projection.types.js';
import { isStoreOutage } from '../../shared/store-outage.js';
import { refreshSummariesApart } from '../summary-refresh.js';
import type { SummaryScope } from '../views/category-summary.view.js';
import type { BatchPlan } from './plan.js';

/** What applying a plan event by event did. */
interface Isolated {
  /** Changes that passed the version guard. */
  applied: number;
  /** The plan's heads, then the events that failed on their own. */
  heads: NewDeadLetter[];
  /** The plan's waiting messages, then the events of the failed ones' keys behind them. */
  waiting: IncomingMessage[];
  /** Category summaries the store refused to recompute (logged here). */
  summaryFailures: number;
}

/**
 * The last attempt of a failing batch: applies its events one at a time, each in a savepoint; a failing
 * one is parked and the rest of its key waits behind it, while the others apply. Then the summaries the
 * applied events touched, apart (see refreshSummariesApart): one the store refuses is logged, and parks
 * no event.
 * @throws a store outage (see isStoreOutage): the whole batch is redelivered.
 */
export async function applyIsolated(
  tx: Tx,
  target: { tables: ViewTables; consumer: string; logger: Logger },
  plan: BatchPlan,
  attempts: number,
): Promise<Isolated> {
  const isolated: Isolated = {
    applied: 0,
    heads: [...plan.heads],
    waiting: [...plan.waiting],
    summaryFailures: 0,
  };
  const failedKeys = new Set<string>();
  const summaries: SummaryScope = { categoryIds: [], productIds: [] };
  for (const event of plan.events) {
    const key = `${event.message.topic}/${event.message.key ?? ''}`;
    if (failedKeys.has(key)) {
      isolated.waiting.push(event.message);
      continue;
    }
    const result = await applyInSavepoint(tx, target.tables, event.change, summaries);
    if (result.ok) {
      isolated.applied += result.accepted;
      continue;
    }
    failedKeys.add(key);
    isolated.heads.push({
      status: 'parked',
      reason: `failed after ${attempts} attempts: ${result.error.message}`,
      errorCode: 'LOCUS_INTERNAL',
      message: event.message,
      eventType: null,
      attempts,
    });
  }
  for (const failure of await refreshSummariesApart(tx, target.tables, summaries)) {
    isolated.summaryFailures += 1;
    target.logger.error(
      { consumer: target.consumer, categoryId: failure.categoryId, err: failure.error },
      'category summary not refreshed; it stays as it was until its next event or a rebuild',
    );
  }
  return isolated;
}

/**
 * Applies one change's own rows in a savepoint, adding the summaries it touches to `summaries`; a
 * failure is rolled back to the savepoint and returned, so the transaction goes on without it.
 * @throws a store outage (see isStoreOutage): no event is to blame for an outage.
 */
export async function applyInSavepoint(
  tx: Tx,
  tables: ViewTables,
  change: Change,
  summaries: SummaryScope,
): Promise<{ ok: true; accepted: number } | { ok: false; error: Error }> {
  await tx.query('SAVEPOINT one_event');
  try {
    const accepted = await applyOwnRows(tx, tables, [change], summaries);
    await tx.query('RELEASE SAVEPOINT one_event');
    return { ok: true, accepted };
  } catch (error) {
    if (isStoreOutage(error)) throw error;
    await tx.query('ROLLBACK TO SAVEPOINT one_event');
    return { ok: false, error: error as Error };
  }
}
