import type pg from 'pg';
import type { IncomingBatch, IncomingMessage } from '../messaging/kafka.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { applyOwnRows, planChanges } from './apply-changes.js';
import { firstAtOrPast, planBatch, type BatchPlan } from './batch-plan.js';
import { crashPoint } from '../shared/crash-point.js';
import { sendTogether, type Statement } from '../shared/postgres.js';
import {
  blockedKeysOf,
  blockedKeysStatement,
  insertDeadLetters,
  type NewDeadLetter,
} from './dead-letter.repository.js';
import {
  lockConsumerStatement,
  recordCommitStatement,
  storedOffsetsOf,
  storedOffsetsStatement,
  storePositionsStatement,
} from './positions.repository.js';
import type { ProjectorMetrics } from './projector.metrics.js';
import type { Tx, ViewTables } from './projection.types.js';
import { isAggregateKey } from './message-key.js';
import { isInfrastructureError } from './store-failure.js';
import { refreshSummariesApart } from './summary-refresh.js';
import type { SummaryScope } from './views/category-summary.view.js';

/**
 * Server settings for the projector's sessions. JIT off: the planner misjudges `unnest` arrays by
 * orders of magnitude, and compiling the summary recomputations took 90% of their time (about 220 of
 * 250 ms per 20k-event batch). More work_mem keeps the per-batch sorts and hash joins in memory.
 * synchronous_commit stays on: the replica only receives flushed WAL, so deferring the flush would
 * delay freshness on the replica by up to wal_writer_delay.
 */
export const PROJECTOR_SESSION_SETTINGS = { jit: 'off', work_mem: '64MB' } as const;

export interface ProjectionTarget {
  pool: pg.Pool;
  /** Names the positions, the dead letters and the advisory lock of this projection. */
  consumer: string;
  tables: ViewTables;
  logger: Logger;
  clock: Clock;
  metrics?: ProjectorMetrics;
  /** Called with newly parked events inside the batch transaction, before COMMIT (dead-letter topic). */
  publishDeadLetters?: (letters: NewDeadLetter[]) => Promise<void>;
  /** Dead letters another consumer skipped are ignored here (a rebuild honours the live skips). */
  honourSkipsOf?: string;
  /**
   * Checked under the consumer's lock: once true, batches change nothing (a rebuild's consumer after its
   * tables were swapped in, while it is being stopped).
   */
  retired?: () => boolean;
  /** Attempts of a whole batch before its events are applied one by one to isolate a failing one. */
  batchAttempts?: number;
  retryDelayMs?: number;
}

export interface BatchOutcome {
  /** Messages at or past the stored positions. */
  handled: number;
  /** Changes that passed the version guard. */
  applied: number;
  parked: number;
  skippedBelowPosition: number;
  /** The stored next offset of each partition that had messages at or past its position. */
  positions: { topic: string; partition: number; nextOffset: string; highWatermark: string }[];
  commitLsn: string | null;
  /** Event times (ms since the epoch) of the decoded events, for the freshness histogram. */
  eventTimesMs: number[];
}

/**
 * Applies fetched batches (one per partition, several partitions at once) effectively once: the view
 * changes, the dead letters and every partition's next offset commit in ONE transaction, serialised
 * with every other transaction of the same consumer by an advisory lock. Messages below a partition's
 * stored offset are ignored, so a batch re-delivered after a crash, or fetched before a seek landed,
 * changes nothing. Per-key order holds: a key lives in one partition, and each partition's messages
 * are planned in offset order.
 *
 * Failing batches are retried whole `batchAttempts` times; then their events are applied one by one in
 * savepoints, and an event that still fails is parked (with the ones behind it on the same key) while
 * the rest commit. The category summaries are then recomputed apart, per category if need be: one the
 * store refuses is logged and counted, and parks no event. Infrastructure failures (connection lost,
 * server shutting down) are rethrown instead: parking would blame the event for an outage. Deterministic
 * failures (see isInfrastructureError) are never taken for one.
 * @throws the infrastructure error; nothing was committed and the batches are redelivered.
 */
export async function projectBatches(
  target: ProjectionTarget,
  batches: readonly IncomingBatch[],
): Promise<BatchOutcome> {
  const started = performance.now();
  batches = mergeByPartition(batches);
  const attempts = target.batchAttempts ?? 3;
  let outcome: BatchOutcome | undefined;
  for (let attempt = 1; outcome === undefined; attempt++) {
    try {
      outcome = await runBatches(target, batches, attempt > attempts ? attempt : null);
    } catch (error) {
      if (isInfrastructureError(error) || attempt > attempts) throw error;
      target.logger.warn({ err: error, consumer: target.consumer, attempt }, 'batch failed; retrying');
      await sleep((target.retryDelayMs ?? 100) * attempt);
    }
  }
  const consumer = target.consumer;
  if (outcome.skippedBelowPosition > 0)
    target.metrics?.eventsSkipped.inc({ consumer }, outcome.skippedBelowPosition);
  if (target.metrics && outcome.handled > 0) {
    const metrics = target.metrics;
    metrics.eventsApplied.inc({ consumer }, outcome.handled);
    metrics.batchSize.observe({ consumer }, outcome.handled);
    metrics.batchDuration.observe({ consumer }, (performance.now() - started) / 1000);
    const now = target.clock.now().getTime();
    for (const time of outcome.eventTimesMs)
      metrics.freshness.observe({ consumer }, Math.max(0, (now - time) / 1000));
    for (const p of outcome.positions) {
      metrics.lag.set(
        { consumer, topic: p.topic, partition: String(p.partition) },
        Math.max(0, Number(BigInt(p.highWatermark) - BigInt(p.nextOffset))),
      );
    }
  }
  return outcome;
}

/**
 * One batch per partition: a group fetched ahead can hold several consecutive batches of a partition,
 * and the plan (one stored offset per partition, one position row per partition) needs them as one.
 */
export function mergeByPartition(batches: readonly IncomingBatch[]): readonly IncomingBatch[] {
  const by = new Map<string, IncomingBatch>();
  for (const batch of batches) {
    const key = `${batch.topic}/${batch.partition}`;
    const seen = by.get(key);
    if (!seen) by.set(key, batch);
    else
      by.set(key, {
        ...batch,
        messages: [...seen.messages, ...batch.messages],
        highWatermark:
          BigInt(batch.highWatermark) > BigInt(seen.highWatermark) ? batch.highWatermark : seen.highWatermark,
      });
  }
  return by.size === batches.length ? batches : [...by.values()];
}

/** One partition's batch: see projectBatches. */
export function projectBatch(target: ProjectionTarget, batch: IncomingBatch): Promise<BatchOutcome> {
  return projectBatches(target, [batch]);
}

/** One attempt. `isolateAttempt` set: apply event by event in savepoints, parking the ones that fail. */
async function runBatches(
  target: ProjectionTarget,
  batches: readonly IncomingBatch[],
  isolateAttempt: number | null,
): Promise<BatchOutcome> {
  // Between fetching a batch and opening its transaction: a projector frozen here (LOCUS_PAUSE_AT) is
  // the zombie whose partitions the group gives to another one meanwhile.
  crashPoint('projector.before-open');
  const client = await target.pool.connect();
  try {
    const opened = await openTransaction(client, target.consumer, batches);
    const { outcome, pending } = await inTransaction(target, client as Tx, batches, opened, isolateAttempt);
    crashPoint('projector.before-commit');
    outcome.commitLsn = await commitTransaction(client, target.consumer, outcome, pending);
    crashPoint('projector.after-commit');
    return outcome;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** What a batch transaction learns as it opens: stored positions, and keys with open dead letters. */
interface Opened {
  /** Next offset by `topic/partition`; absent = none stored. */
  stored: Map<string, bigint>;
  /** `topic/key` of every key of the batches that has a parked or waiting dead letter. */
  blocked: Set<string>;
}

/**
 * BEGIN, the consumer's lock, the stored positions (locked) and the keys of the batches that have open
 * dead letters, in one round trip. The keys are those of every message, not only the ones past the
 * stored positions: a superset, so the positions need not be known first. Only aggregate keys (uuids)
 * are looked up: no other key can have events waiting, and a producer's key is not SQL until checked.
 */
async function openTransaction(
  client: pg.PoolClient,
  consumer: string,
  batches: readonly IncomingBatch[],
): Promise<Opened> {
  const keys = new Map<string, { topic: string; key: string }>();
  for (const batch of batches)
    for (const m of batch.messages)
      if (isAggregateKey(m.key)) keys.set(`${batch.topic}/${m.key}`, { topic: batch.topic, key: m.key });
  const [, , offsets, blocked] = await sendTogether(client, [
    'BEGIN',
    lockConsumerStatement(consumer),
    storedOffsetsStatement(consumer, batches),
    blockedKeysStatement(consumer, [...keys.values()]),
  ]);
  return {
    stored: storedOffsetsOf(offsets!.rows as { topic: string; partition: number; next_offset: string }[]),
    blocked: blockedKeysOf(blocked!.rows as { topic: string; message_key: string }[]),
  };
}

/**
 * The view statements still to run (`pending`), the new positions, the batch's WAL position (for
 * readers of the replica) and COMMIT, in one round trip.
 * @returns that position, or null when the batch handled nothing.
 */
async function commitTransaction(
  client: pg.PoolClient,
  consumer: string,
  outcome: BatchOutcome,
  pending: readonly Statement[],
): Promise<string | null> {
  const statements: (Statement | string)[] = [...pending];
  if (outcome.positions.length > 0) statements.push(storePositionsStatement(consumer, outcome.positions));
  if (outcome.handled === 0) {
    await sendTogether(client, [...statements, 'COMMIT']);
    return null;
  }
  statements.push(recordCommitStatement(consumer, outcome.handled), 'COMMIT');
  const results = await sendTogether(client, statements);
  return (results[results.length - 2]!.rows[0] as { commit_lsn: string } | undefined)?.commit_lsn ?? '0/0';
}

async function inTransaction(
  target: ProjectionTarget,
  tx: Tx,
  batches: readonly IncomingBatch[],
  opened: Opened,
  isolateAttempt: number | null,
): Promise<{ outcome: BatchOutcome; pending: Statement[] }> {
  const outcome: BatchOutcome = {
    handled: 0,
    applied: 0,
    parked: 0,
    skippedBelowPosition: 0,
    positions: [],
    commitLsn: null,
    eventTimesMs: [],
  };
  const { consumer } = target;
  /** View statements left for commitTransaction to send with the COMMIT. */
  let pending: Statement[] = [];
  if (target.retired?.()) return { outcome, pending };

  const plans: BatchPlan[] = [];
  for (const batch of batches) {
    const stored = opened.stored.get(`${batch.topic}/${batch.partition}`) ?? null;
    const fresh = batch.messages.slice(firstAtOrPast(batch.messages, stored));
    outcome.skippedBelowPosition += batch.messages.length - fresh.length;
    const last = fresh[fresh.length - 1];
    if (!last) continue;
    outcome.handled += fresh.length;
    outcome.positions.push({
      topic: batch.topic,
      partition: batch.partition,
      nextOffset: (BigInt(last.offset) + 1n).toString(),
      highWatermark: batch.highWatermark,
    });
    const blocked = new Set<string>();
    if (opened.blocked.size > 0)
      for (const m of fresh)
        if (opened.blocked.has(`${batch.topic}/${m.key ?? ''}`)) blocked.add(m.key ?? '');
    const ignored = target.honourSkipsOf
      ? await skippedOffsets(tx, target.honourSkipsOf, batch.topic, batch.partition, fresh)
      : new Set<string>();
    // `fresh` is already past the stored offset: planBatch has nothing more to skip.
    plans.push(
      planBatch(
        fresh.filter((m) => !ignored.has(m.offset)),
        null,
        blocked,
      ),
    );
  }
  if (outcome.positions.length === 0) return { outcome, pending };
  const plan: BatchPlan = {
    events: plans.flatMap((p) => p.events),
    poison: plans.flatMap((p) => p.poison),
    waiting: plans.flatMap((p) => p.waiting),
    skipped: 0,
    nextOffset: null,
  };
  if (target.metrics) outcome.eventTimesMs = plan.events.map((e) => Date.parse(e.change.eventTime));

  const letters: NewDeadLetter[] = plan.poison.map((p) => ({
    status: 'parked',
    reason: p.reason,
    errorCode: p.code,
    message: p.message,
    eventType: p.eventType,
    attempts: 1,
  }));
  if (isolateAttempt === null) {
    const planned = await planChanges(
      tx,
      target.tables,
      plan.events.map((e) => e.change),
    );
    outcome.applied = planned.accepted;
    pending = planned.statements;
  } else outcome.applied = await applyIsolated(tx, target, plan, letters, isolateAttempt);
  const lettersAll = [...letters, ...waitingLetters(plan.waiting, letters)];
  outcome.parked = lettersAll.length;
  if (lettersAll.length > 0) {
    // The views first: an attempt that fails in them must fail before its letters are published.
    if (pending.length > 0) await sendTogether(tx, pending.splice(0));
    await insertDeadLetters(tx, consumer, lettersAll);
    for (const letter of lettersAll) target.metrics?.deadLetters.inc({ consumer, code: letter.errorCode });
    target.logger.warn({ consumer, parked: lettersAll.length }, 'events parked in dead_letters');
    await target.publishDeadLetters?.(lettersAll);
  }
  return { outcome, pending };
}

/**
 * Applies events one at a time, each in a savepoint; a failing one is parked and the rest of its key
 * waits behind it. Then the summaries the applied events touched, apart (see refreshSummariesApart).
 */
async function applyIsolated(
  tx: Tx,
  target: ProjectionTarget,
  plan: BatchPlan,
  letters: NewDeadLetter[],
  attempts: number,
): Promise<number> {
  let applied = 0;
  const failedKeys = new Set<string>();
  const summaries: SummaryScope = { categoryIds: [], productIds: [] };
  for (const event of plan.events) {
    const key = `${event.message.topic}/${event.message.key ?? ''}`;
    if (failedKeys.has(key)) {
      plan.waiting.push(event.message);
      continue;
    }
    await tx.query('SAVEPOINT one_event');
    try {
      applied += await applyOwnRows(tx, target.tables, [event.change], summaries);
      await tx.query('RELEASE SAVEPOINT one_event');
    } catch (error) {
      if (isInfrastructureError(error)) throw error;
      await tx.query('ROLLBACK TO SAVEPOINT one_event');
      failedKeys.add(key);
      letters.push({
        status: 'parked',
        reason: `failed after ${attempts} attempts: ${(error as Error).message}`,
        errorCode: 'LOCUS_INTERNAL',
        message: event.message,
        eventType: null,
        attempts,
      });
    }
  }
  for (const failure of await refreshSummariesApart(tx, target.tables, summaries)) {
    target.metrics?.summaryFailures.inc({ consumer: target.consumer });
    target.logger.error(
      { consumer: target.consumer, categoryId: failure.categoryId, err: failure.error },
      'category summary not refreshed; it stays as it was until its next event or a rebuild',
    );
  }
  return applied;
}

function waitingLetters(waiting: IncomingMessage[], heads: NewDeadLetter[]): NewDeadLetter[] {
  return waiting
    .sort(
      (a, b) =>
        a.topic.localeCompare(b.topic) ||
        a.partition - b.partition ||
        (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1),
    )
    .map((message) => {
      const head = heads.find(
        (h) => h.message.topic === message.topic && (h.message.key ?? '') === (message.key ?? ''),
      );
      return {
        status: 'waiting',
        reason: head
          ? `waiting behind offset ${head.message.offset} of the same key`
          : 'waiting behind an earlier parked event of the same key',
        errorCode: head?.errorCode ?? 'LOCUS_EVENT_INVALID',
        message,
        eventType: null,
        attempts: 0,
      };
    });
}

async function skippedOffsets(
  tx: Tx,
  consumer: string,
  topic: string,
  partition: number,
  messages: IncomingMessage[],
): Promise<Set<string>> {
  if (messages.length === 0) return new Set();
  const result = await tx.query<{ kafka_offset: string }>(
    `SELECT kafka_offset::text FROM dead_letters
     WHERE consumer = $1 AND topic = $2 AND partition = $3 AND status = 'skipped'
       AND kafka_offset BETWEEN $4::bigint AND $5::bigint`,
    [consumer, topic, partition, messages[0]!.offset, messages[messages.length - 1]!.offset],
  );
  return new Set(result.rows.map((row) => row.kafka_offset));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
