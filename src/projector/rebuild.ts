import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Topics } from '../contracts/topics.js';
import type { Broker, PartitionPosition } from '../messaging/kafka.js';
import type { TopicOffsetsReader } from '../messaging/topic-offsets.js';
import type { Clock } from '../shared/clock.js';
import { crashPoint } from '../shared/crash-point.js';
import { LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { loadPositions } from './positions.repository.js';
import { createProjector, topicList } from './projector.js';
import type { ProjectorMetrics } from './projector.metrics.js';
import { VIEW_TABLE_NAMES, viewTables, withTransaction, type Tx } from './projection.types.js';
import { endOffsets, NEXT_SUFFIX, OLD_SUFFIX, reached, trySwap, withinEnds } from './rebuild.swap.js';
import { truncatedPartitions } from './topic-continuity.js';

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
async function prepareNextTables(pool: pg.Pool, rebuildConsumer: string): Promise<void> {
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

async function dropOldTables(pool: pg.Pool): Promise<void> {
  for (const table of VIEW_TABLE_NAMES) await pool.query(`DROP TABLE IF EXISTS ${table}${OLD_SUFFIX}`);
}

function sum(positions: PartitionPosition[]): number {
  return positions.reduce((total, p) => total + Number(p.offset), 0);
}
