import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingBatch, IncomingMessage } from '../../messaging/kafka.js';
import { crashPoint } from '../../shared/crash-point.js';
import { sendTogether, type Statement } from '../../shared/postgres.js';
import { planChanges } from '../apply-changes.js';
import {
  blockedKeysOf,
  blockedKeysStatement,
  insertDeadLetters,
  skippedOffsets,
  type NewDeadLetter,
} from '../dead-letter.repository.js';
import {
  lockConsumerStatement,
  recordCommitStatement,
  storedOffsetsOf,
  storedOffsetsStatement,
  storePositionsStatement,
} from '../positions.repository.js';
import type { Tx } from '../projection.types.js';
import { isStoreOutage } from '../../shared/store-outage.js';
import type { BatchOutcome, ProjectionTarget } from './batch.types.js';
import type { Decode } from './decode.js';
import { applyIsolated } from './isolate.js';
import { freshRanges, keysToCheck, lettersOf, mergeByPartition, planBatches } from './plan.js';

/**
 * Applies fetched batches (one per partition, several partitions at once) effectively once: the view
 * changes, the dead letters and every partition's next offset commit in ONE transaction, serialised
 * with every other transaction of the same consumer by an advisory lock. Messages below a partition's
 * stored offset are ignored, so a batch redelivered after a crash, or fetched before a seek landed,
 * changes nothing. Per-key order holds: a key lives in one partition, planned in offset order.
 *
 * A failing attempt is retried whole `batchAttempts` times; the last attempt applies the events one by
 * one in savepoints (isolate.ts), and an event that still fails is parked, with the ones behind it on
 * its key, while the rest commit. Store outages (connection lost, server shutting down) are
 * rethrown at once: parking would blame the event for an outage (see isStoreOutage).
 * @throws the store outage; nothing was committed and the batches are redelivered.
 */
export async function runBatch(
  target: ProjectionTarget,
  fetched: readonly IncomingBatch[],
  decode: Decode,
): Promise<BatchOutcome> {
  const batches = mergeByPartition(fetched);
  const attempts = target.batchAttempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptBatch(target, batches, decode, attempt > attempts ? attempt : null);
    } catch (error) {
      if (isStoreOutage(error) || attempt > attempts) throw error;
      target.logger.warn({ err: error, consumer: target.consumer, attempt }, 'batch failed; retrying');
      await sleep((target.retryDelayMs ?? 100) * attempt);
    }
  }
}

/** One attempt, in three round trips. `isolateAttempt` set: event by event, parking the ones that fail. */
async function attemptBatch(
  target: ProjectionTarget,
  fetched: readonly IncomingBatch[],
  decode: Decode,
  isolateAttempt: number | null,
): Promise<BatchOutcome> {
  const { consumer, tables } = target;
  // Between fetching a batch and opening its transaction: a projector frozen here (LOCUS_PAUSE_AT) is
  // the zombie whose partitions the group gives to another one meanwhile.
  crashPoint('projector.before-open');
  const client = await target.pool.connect();
  const tx = client as Tx;
  try {
    // Round trip 1: BEGIN, the consumer's lock, its stored positions (locked), the keys with dead letters.
    const [, , offsets, blocked] = await sendTogether(tx, [
      'BEGIN',
      lockConsumerStatement(consumer),
      storedOffsetsStatement(consumer, fetched),
      blockedKeysStatement(consumer, keysToCheck(fetched)),
    ]);
    const stored = storedOffsetsOf(
      offsets!.rows as { topic: string; partition: number; next_offset: string }[],
    );
    // Checked under the lock: a rebuild's consumer whose tables were swapped in changes nothing.
    const batches = target.retired?.() ? [] : fetched;
    const skipped = target.honourSkipsOf
      ? await skippedOffsets(tx, target.honourSkipsOf, freshRanges(batches, stored))
      : new Set<string>();
    const blockedKeys = blockedKeysOf(blocked!.rows as { topic: string; message_key: string }[]);
    const plan = planBatches(batches, { stored, blocked: blockedKeys, skipped }, decode);

    let applied: number;
    let statements: Statement[] = [];
    let parked: { heads: NewDeadLetter[]; waiting: IncomingMessage[] } = plan;
    let summaryFailures = 0;
    if (isolateAttempt === null) {
      // Round trip 2: the version guard (accept.ts) keeps what is newer and reads the rows it replaces.
      const planned = await planChanges(
        tx,
        tables,
        plan.events.map((e) => e.change),
      );
      applied = planned.accepted;
      statements = planned.statements;
    } else {
      const isolated = await applyIsolated(tx, target, plan, isolateAttempt);
      ({ applied, summaryFailures } = isolated);
      parked = isolated;
    }
    const letters = lettersOf(parked.heads, parked.waiting);
    if (letters.length > 0) {
      // The views first: an attempt that fails in them must fail before its letters are published.
      if (statements.length > 0) await sendTogether(tx, statements.splice(0));
      await insertDeadLetters(tx, consumer, letters);
      target.logger.warn({ consumer, parked: letters.length }, 'events parked in dead_letters');
      await target.publishDeadLetters?.(letters);
    }

    crashPoint('projector.before-commit');
    // Round trip 3: the view statements, the new positions, the batch's WAL position and COMMIT.
    const handled = plan.handled > 0;
    const results = await sendTogether(tx, [
      ...statements,
      ...(handled ? [storePositionsStatement(consumer, plan.positions)] : []),
      ...(handled ? [recordCommitStatement(consumer, plan.handled)] : []),
      'COMMIT',
    ]);
    crashPoint('projector.after-commit');
    const lsn = handled ? (results[results.length - 2]!.rows[0] as { commit_lsn: string } | undefined) : null;
    return {
      handled: plan.handled,
      applied,
      skippedBelowPosition: plan.skippedBelowPosition,
      positions: plan.positions,
      commitLsn: handled ? (lsn?.commit_lsn ?? '0/0') : null,
      eventTimes: plan.events.map((e) => e.change.eventTime),
      deadLetterCodes: letters.map((l) => l.errorCode),
      summaryFailures,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
