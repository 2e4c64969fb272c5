import type { IncomingBatch, IncomingMessage } from '../../messaging/kafka.js';
import type { NewDeadLetter } from '../dead-letter.repository.js';
import { isAggregateKey } from '../message-key.js';
import type { Decode, PlannedEvent, PoisonEvent } from './decode.js';

/** What a batch transaction reads as it opens, before anything is planned. */
export interface OpenedState {
  /** Next offset by `topic/partition`; absent = none stored. */
  stored: ReadonlyMap<string, bigint>;
  /** `topic/key` of every key of the batches that has a parked or waiting dead letter. */
  blocked: ReadonlySet<string>;
  /** `topic/partition/offset` of messages another consumer skipped: a rebuild honours the live skips. */
  skipped: ReadonlySet<string>;
}

/** Where a partition resumes once its batch commits, and how far its topic went when fetched. */
export interface PartitionProgress {
  topic: string;
  partition: number;
  nextOffset: string;
  highWatermark: string;
}

/** How fetched batches are to be applied, decided over plain values: run-batch.ts does the I/O. */
export interface BatchPlan {
  /** Messages at or past the stored positions. */
  handled: number;
  /** Messages below the stored positions (redelivered after a crash, fetched before a seek landed). */
  skippedBelowPosition: number;
  positions: PartitionProgress[];
  /** Decoded events to apply, each partition's in offset order (not yet deduplicated). */
  events: PlannedEvent[];
  /** Events that cannot be applied: parked, as the heads of their keys. */
  heads: NewDeadLetter[];
  /** Events whose key already has a parked event (in the store, or earlier in these batches). */
  waiting: IncomingMessage[];
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

/**
 * The keys whose open dead letters the transaction reads as it opens: those of every message, not only
 * the ones past the stored positions (a superset, so the positions need not be known first). Only
 * aggregate keys (uuids): no other key can have events waiting, and a producer's key is not SQL until
 * checked.
 */
export function keysToCheck(batches: readonly IncomingBatch[]): { topic: string; key: string }[] {
  const keys = new Map<string, { topic: string; key: string }>();
  for (const batch of batches)
    for (const m of batch.messages)
      if (isAggregateKey(m.key)) keys.set(`${batch.topic}/${m.key}`, { topic: batch.topic, key: m.key });
  return [...keys.values()];
}

/** The offsets at or past the stored position of each partition that has any, first and last. */
export function freshRanges(
  batches: readonly IncomingBatch[],
  stored: ReadonlyMap<string, bigint>,
): { topic: string; partition: number; first: string; last: string }[] {
  const ranges = [];
  for (const batch of batches) {
    const fresh = freshOf(batch, stored);
    if (fresh.length > 0)
      ranges.push({
        topic: batch.topic,
        partition: batch.partition,
        first: fresh[0]!.offset,
        last: fresh[fresh.length - 1]!.offset,
      });
  }
  return ranges;
}

/**
 * Plans batches (one per partition, each in offset order): drops the messages below the stored
 * positions and the ones another consumer skipped, decodes the rest, and keeps per-key order around
 * poison: once a key has a parked event (`opened.blocked`, or poison earlier in its partition), every
 * later message with that key waits behind it. A message whose key is no aggregate's key is parked
 * alone. Pure: `decode` is the only thing it calls.
 */
export function planBatches(
  batches: readonly IncomingBatch[],
  opened: OpenedState,
  decode: Decode,
): BatchPlan {
  const plan: BatchPlan = {
    handled: 0,
    skippedBelowPosition: 0,
    positions: [],
    events: [],
    heads: [],
    waiting: [],
  };
  for (const batch of batches) {
    const fresh = freshOf(batch, opened.stored);
    plan.skippedBelowPosition += batch.messages.length - fresh.length;
    const last = fresh[fresh.length - 1];
    if (!last) continue;
    plan.handled += fresh.length;
    plan.positions.push({
      topic: batch.topic,
      partition: batch.partition,
      nextOffset: (BigInt(last.offset) + 1n).toString(),
      highWatermark: batch.highWatermark,
    });
    const skipped = opened.skipped;
    const kept =
      skipped.size > 0 ? fresh.filter((m) => !skipped.has(`${m.topic}/${m.partition}/${m.offset}`)) : fresh;
    planPartition(plan, batch.topic, kept, opened.blocked, decode);
  }
  return plan;
}

/** Adds one partition's messages, in offset order, to `plan`. */
function planPartition(
  plan: BatchPlan,
  topic: string,
  messages: readonly IncomingMessage[],
  blockedInStore: ReadonlySet<string>,
  decode: Decode,
): void {
  const blocked = new Set<string>();
  for (const message of messages) {
    const key = message.key ?? '';
    if (blocked.has(key) || (blockedInStore.size > 0 && blockedInStore.has(`${topic}/${key}`))) {
      plan.waiting.push(message);
      continue;
    }
    const decoded = decode(message);
    if ('change' in decoded) {
      plan.events.push(decoded);
    } else {
      plan.heads.push(poisonLetter(decoded));
      if (decoded.blocksKey) blocked.add(key);
    }
  }
}

function poisonLetter(poison: PoisonEvent): NewDeadLetter {
  return {
    status: 'parked',
    reason: poison.reason,
    errorCode: poison.code,
    message: poison.message,
    eventType: poison.eventType,
    attempts: 1,
  };
}

/**
 * The dead letters to store: the parked heads, then every waiting message in topic, partition and
 * offset order, each naming the head of its key it waits behind.
 */
export function lettersOf(
  heads: readonly NewDeadLetter[],
  waiting: readonly IncomingMessage[],
): NewDeadLetter[] {
  const sorted = [...waiting].sort(
    (a, b) =>
      a.topic.localeCompare(b.topic) ||
      a.partition - b.partition ||
      (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1),
  );
  const waitingLetters = sorted.map((message): NewDeadLetter => {
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
  return [...heads, ...waitingLetters];
}

/** One partition's messages at or past its stored offset: the ones before it were applied already. */
function freshOf(batch: IncomingBatch, stored: ReadonlyMap<string, bigint>): IncomingMessage[] {
  const storedOffset = stored.get(`${batch.topic}/${batch.partition}`) ?? null;
  let index = 0;
  // Converts only the offsets it passes over, not one per message.
  if (storedOffset !== null)
    while (index < batch.messages.length && BigInt(batch.messages[index]!.offset) < storedOffset) index++;
  return batch.messages.slice(index);
}
