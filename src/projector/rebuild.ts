import type pg from 'pg';
import type { Topics } from '../contracts/topics.js';
import type { Broker, PartitionPosition } from '../messaging/kafka.js';
import type { PartitionOffsets, TopicOffsetsReader } from '../messaging/topic-offsets.js';
import type { Clock } from '../shared/clock.js';
import { crashPoint } from '../shared/crash-point.js';
import { LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { loadPositions, lockConsumer } from './positions.repository.js';
import { createProjector, topicList } from './projector.js';
import type { ProjectorMetrics } from './projector.metrics.js';
import { VIEW_TABLE_NAMES, viewTables, withTransaction, type Tx } from './projection.types.js';
import { truncatedPartitions } from './topic-continuity.js';

export const NEXT_SUFFIX = '__next';
const OLD_SUFFIX = '__old';

export interface RebuildOptions {
  pool: pg.Pool;
  broker: Broker;
  topicOffsets: TopicOffsetsReader;
  topics: Topics;
  /** The live projector's consumer name: its positions are the finish line and are handed over. */
  liveConsumer: string;
  groupId: string;
  logger: Logger;
  clock: Clock;
  metrics?: ProjectorMetrics;
  onProgress?: (progress: RebuildProgress) => void;
  pollMs?: number;
  /** The replay's bound on events per transaction, as the live projector's (default 10,000). */
  maxEventsPerTransaction?: number;
  /** How long one swap attempt holds the live projector while the rebuild closes the last gap. */
  swapWaitMs?: number;
}

export interface RebuildProgress {
  phase: 'replaying' | 'swapping' | 'done';
  /** Messages handled by the rebuild so far. */
  applied: number;
  /** Messages in the topics (end offsets; grows while the live stream goes on). */
  total: number;
}

export interface RebuildResult {
  events: number;
  seconds: number;
  swapAttempts: number;
}

/**
 * Rebuilds every view without downtime: replays all topics from offset 0 into `<table>__next` copies
 * (created LIKE the live tables INCLUDING ALL, with their own applied_versions and consumer name)
 * while the live projector keeps the live tables current. Once the rebuild has reached the end offsets
 * seen at its start and the live consumer's positions, it swaps in ONE transaction: it takes the live
 * consumer's advisory lock (the live projector, in this process or another, pauses between batches),
 * renames live → `__old` and next → live (indexes keep their names), hands the rebuild's positions
 * and dead letters to the live consumer, and commits; then the old tables are dropped.
 *
 * Readers never see an empty or missing table: the rename is atomic, and its ACCESS EXCLUSIVE locks are
 * taken with NOWAIT in a retry loop, so the swap waits for a gap between reads instead of queueing
 * readers behind it or deadlocking with a multi-table read.
 */
export async function rebuildViews(options: RebuildOptions): Promise<RebuildResult> {
  const started = performance.now();
  const rebuildConsumer = `${options.liveConsumer}.rebuild`;
  const topics = topicList(options.topics);
  await refuseTruncatedTopics(options.topicOffsets, topics);
  await prepareNextTables(options.pool, rebuildConsumer);
  const target = await endOffsets(options.topicOffsets, topics);
  let total = sum(target);
  let applied = 0;
  const swap = { retired: false };
  const report = (phase: RebuildProgress['phase']) => options.onProgress?.({ phase, applied, total });

  const replay = createProjector({
    pool: options.pool,
    broker: options.broker,
    topicOffsets: options.topicOffsets,
    topics: options.topics,
    groupId: `${options.groupId}.rebuild.${options.clock.now().getTime()}`,
    consumer: rebuildConsumer,
    tables: viewTables(NEXT_SUFFIX),
    logger: options.logger,
    clock: options.clock,
    metrics: options.metrics,
    honourSkipsOf: options.liveConsumer,
    stuckAfterMs: Number.MAX_SAFE_INTEGER,
    lagPollMs: 60_000,
    maxEventsPerTransaction: options.maxEventsPerTransaction,
    onBatch: (outcome) => (applied += outcome.handled),
    retired: () => swap.retired,
  });
  await replay.start();
  let swapAttempts = 0;
  try {
    for (;;) {
      await sleep(options.pollMs ?? 250);
      const rebuilt = await loadPositions(options.pool, rebuildConsumer);
      const live = await loadPositions(options.pool, options.liveConsumer);
      const ends = await endOffsets(options.topicOffsets, topics);
      total = Math.max(total, sum(ends));
      report('replaying');
      if (!reached(rebuilt, [...target, ...withinEnds(live, ends)])) continue;
      report('swapping');
      swapAttempts += 1;
      if (await trySwap(options, rebuildConsumer, target, swap)) break;
    }
  } finally {
    await replay.stop();
  }
  // The swap has committed: the rebuilt tables are live and the old ones are only garbage, which the
  // next rebuild's prepareNextTables drops if this process dies here.
  crashPoint('rebuild.after-swap');
  await dropOldTables(options.pool);
  report('done');
  return { events: applied, seconds: (performance.now() - started) / 1000, swapAttempts };
}

/** Drops what an earlier, interrupted rebuild left and creates empty `__next` copies of the views. */
export async function prepareNextTables(pool: pg.Pool, rebuildConsumer: string): Promise<void> {
  await withTransaction(pool, async (tx) => {
    for (const table of VIEW_TABLE_NAMES) {
      await tx.query(`DROP TABLE IF EXISTS ${table}${NEXT_SUFFIX}, ${table}${OLD_SUFFIX}`);
      await tx.query(`CREATE TABLE ${table}${NEXT_SUFFIX} (LIKE ${table} INCLUDING ALL)`);
      await copyStorageOptions(tx, table, `${table}${NEXT_SUFFIX}`);
    }
    await tx.query('DELETE FROM projector_positions WHERE consumer = $1', [rebuildConsumer]);
    await tx.query('DELETE FROM dead_letters WHERE consumer = $1', [rebuildConsumer]);
  });
}

/** LIKE … INCLUDING ALL copies columns and indexes but not reloptions such as fillfactor. */
async function copyStorageOptions(tx: Tx, from: string, to: string): Promise<void> {
  const { rows } = await tx.query<{ reloptions: string[] | null }>(
    'SELECT reloptions FROM pg_class WHERE oid = $1::regclass',
    [from],
  );
  const options = rows[0]?.reloptions ?? [];
  if (options.length > 0) await tx.query(`ALTER TABLE ${to} SET (${options.join(', ')})`);
}

/**
 * A replay from offset 0 of a topic that no longer starts there would swap in views missing what was
 * removed. Refused before anything is created.
 * @throws LocusError LOCUS_CONFLICT naming each such partition and its earliest offset.
 */
async function refuseTruncatedTopics(reader: TopicOffsetsReader, topics: readonly string[]): Promise<void> {
  const offsets = (await Promise.all(topics.map((topic) => reader.offsets(topic)))).flat();
  const truncated = truncatedPartitions(offsets);
  if (truncated.length === 0) return;
  throw new LocusError(
    'LOCUS_CONFLICT',
    `rebuild refused: ${truncated.map((o) => `${o.topic}/${o.partition} starts at offset ${o.earliest}, not 0`).join('; ')}; ` +
      'restore the topic from the catalog (see README "When a topic was deleted, recreated or truncated")',
  );
}

async function endOffsets(
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

async function trySwap(
  options: RebuildOptions,
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

async function dropOldTables(pool: pg.Pool): Promise<void> {
  for (const table of VIEW_TABLE_NAMES) await pool.query(`DROP TABLE IF EXISTS ${table}${OLD_SUFFIX}`);
}

function sum(positions: PartitionPosition[]): number {
  return positions.reduce((total, p) => total + Number(p.offset), 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
