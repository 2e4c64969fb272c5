import { decodeEvent } from '../contracts/registry.js';
import type { EventEnvelope } from '../contracts/envelope.js';
import type { CategoryState, ProductDeleted, ProductState } from '../contracts/catalog.events.js';
import type { ReviewDeleted, ReviewState } from '../contracts/review.events.js';
import type { IncomingMessage } from '../messaging/kafka.js';
import { isLocusError, LocusError, type ErrorCode } from '../shared/errors.js';
import { checkEvent } from './event-checks.js';
import { describeKey, isAggregateKey, keyOf } from './message-key.js';
import type { Change } from './projection.types.js';

export interface PlannedEvent {
  message: IncomingMessage;
  change: Change;
}

export interface PoisonEvent {
  message: IncomingMessage;
  code: ErrorCode;
  reason: string;
  eventType: string | null;
  /** Whether later messages of its key wait behind it: not when the key is no aggregate's key. */
  blocksKey: boolean;
}

/** How one fetched batch of one partition is to be handled. */
export interface BatchPlan {
  /** Decoded events to apply, in offset order (not yet deduplicated). */
  events: PlannedEvent[];
  /** Events that cannot be decoded: parked as the head of their key. */
  poison: PoisonEvent[];
  /** Events whose key already has a parked event (earlier in the store, or earlier in this batch). */
  waiting: IncomingMessage[];
  /** Messages below the stored position (re-delivered before a seek landed): ignored. */
  skipped: number;
  /** The position to store after this batch, or null when the batch had nothing at or past it. */
  nextOffset: string | null;
}

/** Turns a validated envelope into the change it carries. */
export function toChange(envelope: EventEnvelope): Change {
  // Object literals rather than spreads of a shared base: this runs for every event the projector reads.
  const version = envelope.aggregateversion;
  const eventTime = envelope.time;
  const deleted = envelope.type.includes('.deleted.');
  switch (envelope.aggregatetype) {
    case 'category': {
      const state = envelope.data as CategoryState;
      return { aggregateType: 'category', id: state.id, version, eventTime, deleted: false, state };
    }
    case 'product': {
      if (deleted) {
        const data = envelope.data as ProductDeleted;
        return {
          aggregateType: 'product',
          id: data.id,
          version,
          eventTime,
          deleted: true,
          categoryId: data.categoryId,
        };
      }
      const state = envelope.data as ProductState;
      return { aggregateType: 'product', id: state.id, version, eventTime, deleted: false, state };
    }
    case 'review': {
      if (deleted) {
        const data = envelope.data as ReviewDeleted;
        return {
          aggregateType: 'review',
          id: data.id,
          version,
          eventTime,
          deleted: true,
          productId: data.productId,
        };
      }
      const state = envelope.data as ReviewState;
      return { aggregateType: 'review', id: state.id, version, eventTime, deleted: false, state };
    }
    default:
      throw new LocusError('LOCUS_EVENT_UNKNOWN_TYPE', `unknown aggregate type ${envelope.aggregatetype}`);
  }
}

/**
 * Messages decoded ahead, while an earlier transaction was waiting on the store (see decodeAhead).
 * Keyed by the message object itself, so an entry lives exactly as long as its message.
 */
const decodedAhead = new WeakMap<IncomingMessage, PlannedEvent | PoisonEvent>();

/**
 * Decodes messages now and keeps the result for decodeMessage. Parsing and validating is the
 * projector's main CPU cost; done when a batch is fetched, it overlaps the SQL of the batch before.
 */
export function decodeAhead(messages: readonly IncomingMessage[]): void {
  for (const message of messages) decodedAhead.set(message, decode(message));
}

/** Decodes one message into a change, or says why it is poison (decoded ahead, if it was). */
export function decodeMessage(message: IncomingMessage): PlannedEvent | PoisonEvent {
  return decodedAhead.get(message) ?? decode(message);
}

/**
 * Validates every field of a message before anything of it can reach SQL: the key first (an aggregate
 * key, and the one the keying rule gives the event), then the value against its registered schema,
 * then what the schema cannot say (checkEvent: aggregate, topic, version; the subject is the id).
 */
function decode(message: IncomingMessage): PlannedEvent | PoisonEvent {
  const blocksKey = isAggregateKey(message.key);
  try {
    if (!blocksKey) {
      throw new LocusError('LOCUS_EVENT_INVALID', `message key ${describeKey(message.key)} is not a uuid`);
    }
    const envelope = decodeEvent(message.value);
    checkEvent(envelope, message.topic);
    if (envelope.subject !== (envelope.data as { id?: unknown }).id) {
      throw new LocusError('LOCUS_EVENT_INVALID', `subject ${envelope.subject} is not the id in data`);
    }
    const change = toChange(envelope);
    if (keyOf(change) !== message.key) {
      throw new LocusError(
        'LOCUS_EVENT_INVALID',
        `message key ${describeKey(message.key)} is not the event's key ${keyOf(change)} (contracts/topics.ts)`,
      );
    }
    return { message, change };
  } catch (error) {
    return {
      message,
      code: isLocusError(error) ? error.code : 'LOCUS_EVENT_INVALID',
      reason: error instanceof Error ? error.message : String(error),
      eventType: peekType(message.value),
      blocksKey,
    };
  }
}

function peekType(value: Buffer | null): string | null {
  try {
    const parsed = JSON.parse(value?.toString('utf8') ?? 'null') as { type?: unknown } | null;
    return typeof parsed?.type === 'string' ? parsed.type : null;
  } catch {
    return null;
  }
}

/**
 * The index of the first of `messages` (one partition's, in offset order) at or past `storedOffset`:
 * the ones before it were applied already. Converts only the offsets it skips, not one per message.
 */
export function firstAtOrPast(messages: readonly IncomingMessage[], storedOffset: bigint | null): number {
  let index = 0;
  if (storedOffset !== null)
    while (index < messages.length && BigInt(messages[index]!.offset) < storedOffset) index++;
  return index;
}

/**
 * Plans a batch of one partition's messages, in offset order: drops messages below `storedOffset`,
 * decodes the rest, and keeps per-key order around poison events: once a key has a parked event
 * (`blockedKeys`, or poison earlier in this batch), every later message with that key waits behind
 * it. A message whose key is no aggregate's key is parked alone. Pure: no I/O.
 */
export function planBatch(
  messages: readonly IncomingMessage[],
  storedOffset: bigint | null,
  blockedKeys: ReadonlySet<string>,
): BatchPlan {
  const plan: BatchPlan = { events: [], poison: [], waiting: [], skipped: 0, nextOffset: null };
  const blocked = new Set(blockedKeys);
  const start = firstAtOrPast(messages, storedOffset);
  plan.skipped = start;
  for (let i = start; i < messages.length; i++) {
    const message = messages[i]!;
    const key = message.key ?? '';
    if (blocked.has(key)) {
      plan.waiting.push(message);
      continue;
    }
    const decoded = decodeMessage(message);
    if ('change' in decoded) {
      plan.events.push(decoded);
    } else {
      plan.poison.push(decoded);
      if (decoded.blocksKey) blocked.add(key);
    }
  }
  const last = messages[messages.length - 1];
  if (last && start < messages.length) plan.nextOffset = (BigInt(last.offset) + 1n).toString();
  return plan;
}

/**
 * Keeps only the newest version of each aggregate in a batch: events carry full state, so older ones
 * in the same batch add nothing. Order of the result follows the first appearance of each aggregate.
 */
export function dedupeChanges(changes: readonly Change[]): Change[] {
  const newest = new Map<string, Change>();
  for (const change of changes) {
    const key = `${change.aggregateType}:${change.id}`;
    const seen = newest.get(key);
    if (!seen || change.version > seen.version) newest.set(key, change);
  }
  return [...newest.values()];
}
