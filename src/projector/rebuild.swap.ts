import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Topics } from '../contracts/topics.js';
import type { PartitionPosition } from '../messaging/kafka.js';
import type { PartitionOffsets, TopicOffsetsReader } from '../messaging/topic-offsets.js';
import { LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { loadPositions, lockConsumer } from './positions.repository.js';
import { topicList } from './projector.js';
import { VIEW_TABLE_NAMES, withTransaction, type Tx } from './projection.types.js';

/** A rebuild writes `<table>__next`; the swap renames the live tables to `<table>__old`. */
export const NEXT_SUFFIX = '__next';
export const OLD_SUFFIX = '__old';

/** What the swap needs of a rebuild's options. */
interface SwapTarget {
  pool: pg.Pool;
  topicOffsets: TopicOffsetsReader;
  topics: Topics;
  liveConsumer: string;
  logger: Logger;
  /** How long one swap attempt holds the live projector while the rebuild closes the last gap. */
  swapWaitMs?: number;
}

/** The end offset of every partition of `topics`: where a partition's next event will go. */
export async function endOffsets(
  reader: TopicOffsetsReader,
  topics: readonly string[],
): Promise<PartitionPosition[]> {
  const offsets: PartitionOffsets[] = (
    await Promise.all(topics.map((topic) => reader.offsets(topic)))
  ).flat();
  return offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.end }));
}

/** The positions within their partition's end: one past it belongs to a deleted topic's history. */
export function withinEnds(positions: PartitionPosition[], ends: PartitionPosition[]): PartitionPosition[] {
  const end = new Map(ends.map((e) => [`${e.topic}/${e.partition}`, BigInt(e.offset)]));
  return positions.filter((p) => {
    const last = end.get(`${p.topic}/${p.partition}`);
    return last !== undefined && BigInt(p.offset) <= last;
  });
}

/** True when every partition of `goals` has a position in `positions` at or past it. */
export function reached(positions: PartitionPosition[], goals: PartitionPosition[]): boolean {
  const at = new Map(positions.map((p) => [`${p.topic}/${p.partition}`, BigInt(p.offset)]));
  return goals.every((goal) => (at.get(`${goal.topic}/${goal.partition}`) ?? 0n) >= BigInt(goal.offset));
}

/**
 * One swap attempt, in one transaction: takes the live consumer's lock, waits (up to `swapWaitMs`) for
 * the rebuild to reach the live positions, takes the tables' locks without queueing, renames, and hands
 * positions and dead letters over. @returns false when it gave up, having changed nothing (try again).
 */
export async function trySwap(
  options: SwapTarget,
  rebuildConsumer: string,
  target: PartitionPosition[],
  swap: { retired: boolean },
): Promise<boolean> {
  const live = options.liveConsumer;
  const topics = topicList(options.topics);
  return withTransaction(options.pool, async (tx) => {
    // From here the live projector cannot commit a batch: its positions stand still.
    await lockConsumer(tx, live);
    const deadline = performance.now() + (options.swapWaitMs ?? 10_000);
    let caughtUp = false;
    while (!caughtUp && performance.now() < deadline) {
      // Ends read after the positions, under the lock: only a position from an older history of its
      // topic (deleted and recreated) can be past them, and the swap replaces it.
      const positions = await loadPositions(tx, live);
      const goals = [...target, ...withinEnds(positions, await endOffsets(options.topicOffsets, topics))];
      caughtUp = reached(await loadPositions(tx, rebuildConsumer), goals);
      if (!caughtUp) await sleep(20);
    }
    if (!caughtUp) return false;
    await lockConsumer(tx, rebuildConsumer);
    if (!(await lockTablesNoWait(tx, 2_000))) return false;
    await swapTables(tx);
    await tx.query('DELETE FROM projector_positions WHERE consumer = $1', [live]);
    await tx.query('UPDATE projector_positions SET consumer = $2 WHERE consumer = $1', [
      rebuildConsumer,
      live,
    ]);
    await handOverDeadLetters(tx, rebuildConsumer, live);
    // Rebuild batches waiting for the rebuild lock must find nothing to do once this commits.
    swap.retired = true;
    options.logger.info({ live }, 'rebuilt views swapped in');
    return true;
  }).catch((error: unknown) => {
    if (swap.retired)
      throw new LocusError('LOCUS_INTERNAL', 'rebuild swap failed to commit; run the rebuild again', {
        cause: error,
      });
    throw error;
  });
}

/**
 * The replay's verdict on every event becomes the live consumer's, inside the swap. A live letter still
 * open that the replay applied is resolved: it goes. An event both parked (or that was retried live and
 * failed again in the replay) keeps its live row, so the id an operator holds and its attempts stay,
 * with the replay's status and reason. The replay's other letters move over. Skipped live letters
 * never meet a replay letter: the replay honours the live skips.
 */
async function handOverDeadLetters(tx: Tx, rebuildConsumer: string, live: string): Promise<void> {
  const sameEvent = `r.topic = l.topic AND r.partition = l.partition AND r.kafka_offset = l.kafka_offset`;
  await tx.query(
    `DELETE FROM dead_letters l WHERE l.consumer = $2 AND l.status IN ('parked', 'waiting') AND NOT EXISTS (
       SELECT 1 FROM dead_letters r WHERE r.consumer = $1 AND ${sameEvent})`,
    [rebuildConsumer, live],
  );
  await tx.query(
    `UPDATE dead_letters l SET status = r.status, reason = r.reason, error_code = r.error_code,
       resolved_at = NULL
     FROM dead_letters r WHERE l.consumer = $2 AND r.consumer = $1 AND ${sameEvent}`,
    [rebuildConsumer, live],
  );
  await tx.query(
    `UPDATE dead_letters r SET consumer = $2 WHERE r.consumer = $1 AND NOT EXISTS (
       SELECT 1 FROM dead_letters l WHERE l.consumer = $2 AND ${sameEvent})`,
    [rebuildConsumer, live],
  );
  await tx.query('DELETE FROM dead_letters WHERE consumer = $1', [rebuildConsumer]);
}

/** Takes ACCESS EXCLUSIVE on live and next tables without ever queueing; retries until `waitMs`. */
async function lockTablesNoWait(tx: Tx, waitMs: number): Promise<boolean> {
  const tables = VIEW_TABLE_NAMES.flatMap((t) => [t, `${t}${NEXT_SUFFIX}`]).join(', ');
  const deadline = performance.now() + waitMs;
  while (performance.now() < deadline) {
    await tx.query('SAVEPOINT swap_locks');
    try {
      await tx.query(`LOCK TABLE ${tables} IN ACCESS EXCLUSIVE MODE NOWAIT`);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03') throw error;
      await tx.query('ROLLBACK TO SAVEPOINT swap_locks');
      await sleep(2);
    }
  }
  return false;
}

/** Renames live → __old and __next → live; the new live indexes take the old ones' names. */
async function swapTables(tx: Tx): Promise<void> {
  for (const table of VIEW_TABLE_NAMES) {
    const liveIndexes = await indexesOf(tx, table);
    const nextIndexes = await indexesOf(tx, `${table}${NEXT_SUFFIX}`);
    for (const index of liveIndexes)
      await tx.query(`ALTER INDEX ${index.name} RENAME TO ${index.name}${OLD_SUFFIX}`);
    await tx.query(`ALTER TABLE ${table} RENAME TO ${table}${OLD_SUFFIX}`);
    await tx.query(`ALTER TABLE ${table}${NEXT_SUFFIX} RENAME TO ${table}`);
    for (const index of nextIndexes) {
      const same = liveIndexes.find((live) => live.signature === index.signature);
      if (same) await tx.query(`ALTER INDEX ${index.name} RENAME TO ${same.name}`);
    }
  }
}

async function indexesOf(tx: Tx, table: string): Promise<{ name: string; signature: string }[]> {
  const result = await tx.query<{ name: string; def: string }>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass`,
    [table],
  );
  return result.rows.map((row) => ({
    name: row.name,
    // "CREATE UNIQUE INDEX x ON public.t USING btree (id)" → "UNIQUE USING btree (id)"
    signature: row.def.replace(/^CREATE (UNIQUE )?INDEX \S+ ON \S+ /, (_m, unique?: string) => unique ?? ''),
  }));
}
