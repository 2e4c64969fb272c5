import { decodeEvent } from '../../contracts/registry.js';
import type { EventEnvelope } from '../../contracts/envelope.js';
import type { CategoryState, ProductDeleted, ProductState } from '../../contracts/catalog.events.js';
import type { ReviewDeleted, ReviewState } from '../../contracts/review.events.js';
import type { IncomingMessage } from '../../messaging/kafka.js';
import { isLocusError, LocusError, type ErrorCode } from '../../shared/errors.js';
import { checkEvent } from '../event-checks.js';
import { describeKey, isAggregateKey, keyOf } from '../message-key.js';
import type { Change } from '../projection.types.js';

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
        const { id, categoryId } = envelope.data as ProductDeleted;
        return { aggregateType: 'product', id, version, eventTime, deleted: true, categoryId };
      }
      const state = envelope.data as ProductState;
      return { aggregateType: 'product', id: state.id, version, eventTime, deleted: false, state };
    }
    case 'review': {
      if (deleted) {
        const { id, productId } = envelope.data as ReviewDeleted;
        return { aggregateType: 'review', id, version, eventTime, deleted: true, productId };
      }
      const state = envelope.data as ReviewState;
      return { aggregateType: 'review', id: state.id, version, eventTime, deleted: false, state };
    }
    default:
      throw new LocusError('LOCUS_EVENT_UNKNOWN_TYPE', `unknown aggregate type ${envelope.aggregatetype}`);
  }
}

/** Decodes one message into a change, or says why it is poison. */
export type Decode = (message: IncomingMessage) => Decoded;

type Decoded = PlannedEvent | PoisonEvent;

/**
 * Decodes messages when they are fetched and keeps the result for the batch that applies them.
 * Parsing and validating is the projector's main CPU cost; done at fetch time, it overlaps the SQL of
 * the batch before. Each projector owns one: an entry lives exactly as long as its message object.
 */
interface DecodeCache {
  decodeAhead(messages: readonly IncomingMessage[]): void;
  /** The message decoded ahead, or decoded now. */
  decode: Decode;
}

export function createDecodeCache(): DecodeCache {
  const decoded = new WeakMap<IncomingMessage, Decoded>();
  return {
    decodeAhead(messages) {
      for (const message of messages) decoded.set(message, decodeMessage(message));
    },
    decode: (message) => decoded.get(message) ?? decodeMessage(message),
  };
}

/**
 * Validates every field of a message before anything of it can reach SQL: the key first (an aggregate
 * key, and the one the keying rule gives the event), then the value against its registered schema,
 * then what the schema cannot say (checkEvent: aggregate, topic, version; the subject is the id).
 */
export function decodeMessage(message: IncomingMessage): Decoded {
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
