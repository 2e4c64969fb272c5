import type pg from 'pg';
import { LocusError } from '../shared/errors.js';
import { decodeMessage } from './batch/decode.js';
import { applyInSavepoint } from './batch/isolate.js';
import {
  deadLetterForUpdate,
  reparkDeadLetter,
  resolveDeadLetter,
  waitingBehind,
  type DeadLetter,
} from './dead-letter.repository.js';
import { lockConsumer } from './positions.repository.js';
import { withTransaction, type Tx, type ViewTables } from './projection.types.js';
import { refreshSummariesApart } from './summary-refresh.js';
import type { SummaryScope } from './views/category-summary.view.js';

export interface DeadLetterResolution {
  id: number;
  status: 'retried' | 'skipped' | 'parked';
  /** Why the retried event failed again (status stays 'parked'). */
  reason?: string;
  /** Waiting events applied behind it, in order. */
  released: number[];
  /** The waiting event that failed and is now the parked head of its key, if any. */
  newHead?: number;
  /**
   * Categories whose summary the store refused to recompute: the events applied all the same, and
   * each summary keeps its last value until the next event of its category or a rebuild.
   */
  staleCategories?: string[];
}

interface Target {
  pool: pg.Pool;
  tables: ViewTables;
}

/**
 * Re-applies a parked event, then the events waiting behind it on the same key, in order, all in one
 * transaction serialised with the consumer's batches. An event that fails again stays (or becomes) the
 * parked head; the ones after it keep waiting.
 * @throws LocusError LOCUS_NOT_FOUND (no such dead letter), LOCUS_CONFLICT (not a parked head).
 */
export async function retryDeadLetter(target: Target, id: number): Promise<DeadLetterResolution> {
  return withTransaction(target.pool, async (tx) => {
    const head = await openHead(tx, id);
    const summaries: SummaryScope = { categoryIds: [], productIds: [] };
    const failure = await applyDeadLetter(tx, target.tables, head, summaries);
    if (failure) {
      await reparkDeadLetter(tx, head.id, failure);
      return { id, status: 'parked', reason: failure.reason, released: [] };
    }
    await resolveDeadLetter(tx, head.id, 'retried');
    const released = await releaseWaiting(tx, target.tables, head, summaries);
    return { id, status: 'retried', ...released, ...(await refreshSummaries(tx, target.tables, summaries)) };
  });
}

/**
 * Gives up on a parked event (it is never applied), then applies the events waiting behind it.
 * @throws LocusError LOCUS_NOT_FOUND, LOCUS_CONFLICT (not a parked head).
 */
export async function skipDeadLetter(target: Target, id: number): Promise<DeadLetterResolution> {
  return withTransaction(target.pool, async (tx) => {
    const head = await openHead(tx, id);
    await resolveDeadLetter(tx, head.id, 'skipped');
    const summaries: SummaryScope = { categoryIds: [], productIds: [] };
    const released = await releaseWaiting(tx, target.tables, head, summaries);
    return { id, status: 'skipped', ...released, ...(await refreshSummaries(tx, target.tables, summaries)) };
  });
}

/** The summaries the applied events touched, apart from them (see refreshSummariesApart). */
async function refreshSummaries(
  tx: Tx,
  tables: ViewTables,
  summaries: SummaryScope,
): Promise<{ staleCategories?: string[] }> {
  const failures = await refreshSummariesApart(tx, tables, summaries);
  return failures.length > 0 ? { staleCategories: failures.map((f) => f.categoryId) } : {};
}

async function openHead(tx: Tx, id: number): Promise<DeadLetter> {
  // The consumer's lock first, like every batch, then the row: no lock-order inversion with batches.
  const owner = await tx.query<{ consumer: string }>('SELECT consumer FROM dead_letters WHERE id = $1', [id]);
  const consumer = owner.rows[0]?.consumer;
  if (consumer === undefined) throw new LocusError('LOCUS_NOT_FOUND', `no dead letter ${id}`);
  await lockConsumer(tx, consumer);
  const found = await deadLetterForUpdate(tx, id);
  if (!found) throw new LocusError('LOCUS_NOT_FOUND', `no dead letter ${id}`);
  if (found.status !== 'parked') {
    throw new LocusError(
      'LOCUS_CONFLICT',
      `dead letter ${id} is ${found.status}; only a parked head can be resolved`,
    );
  }
  return found;
}

async function releaseWaiting(
  tx: Tx,
  tables: ViewTables,
  head: DeadLetter,
  summaries: SummaryScope,
): Promise<{ released: number[]; newHead?: number }> {
  const released: number[] = [];
  for (const letter of await waitingBehind(tx, head)) {
    const failure = await applyDeadLetter(tx, tables, letter, summaries);
    if (failure) {
      await reparkDeadLetter(tx, letter.id, failure);
      return { released, newHead: letter.id };
    }
    await resolveDeadLetter(tx, letter.id, 'retried');
    released.push(letter.id);
  }
  return { released };
}

/**
 * Applies one stored event's own rows in a savepoint, adding the summaries it touches to `summaries`;
 * returns why it failed, or null when it applied.
 */
async function applyDeadLetter(
  tx: Tx,
  tables: ViewTables,
  letter: DeadLetter,
  summaries: SummaryScope,
): Promise<{ reason: string; errorCode: string } | null> {
  const decoded = decodeMessage({
    topic: letter.topic,
    partition: letter.partition,
    offset: letter.offset,
    key: letter.key,
    value: letter.value,
    headers: letter.headers,
    timestamp: letter.createdAt.getTime(),
  });
  if (!('change' in decoded)) return { reason: decoded.reason, errorCode: decoded.code };
  const result = await applyInSavepoint(tx, tables, decoded.change, summaries);
  return result.ok ? null : { reason: result.error.message, errorCode: 'LOCUS_INTERNAL' };
}
