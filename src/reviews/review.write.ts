import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from 'mongodb';
import type { EventTypeDefinition } from '../contracts/envelope.js';
import { createEnvelope } from '../contracts/registry.js';
import type { Clock, IdGenerator } from '../shared/clock.js';
import { isLocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import {
  DEFAULT_LANES,
  laneOf,
  nextSequence,
  reviewCollections,
  slotOf,
  type ReviewEventData,
  type ReviewEventDocument,
} from './review.model.js';
import { applyEvent, confirmEvent, decideOutcome, insertEvent, commitEvent } from './review.repository.js';

/**
 * One review write after its precondition held: commit the event of version n+1 (its outbox entry
 * first, then the event: the commit point, unique on (reviewId, version)), bring the document up to
 * it, then confirm the outbox entry. A crash after the commit loses nothing: the event holds the full
 * state and the next read or write (or the outbox relay, which resolves unconfirmed entries) applies it.
 *
 * No write completes behind its client's back: once the event is in, the write answers success even
 * when the document update or the confirmation fails (the relay completes both); when the commit
 * fails, the writer cancels the entry (`decideOutcome`) before it answers 5xx, unless the relay has
 * already decided to complete it, in which case the write completes and answers success.
 */
type WriteEvent = (
  definition: EventTypeDefinition,
  reviewId: string,
  productId: string,
  version: number,
  previousSequence: number,
  data: ReviewEventData,
) => Promise<ReviewEventDocument>;

interface EventWriterDeps {
  db: Db;
  clock: Clock;
  newId: IdGenerator;
  lanes: number;
  /** Told about writes that committed but left their document or confirmation to the relay. */
  logger?: Logger;
}

/**
 * Tries to decide a failed write's outcome before answering: enough to ride out a blip of the store,
 * few enough that the client gets its answer well within the relay's grace period.
 */
const DECIDE_ATTEMPTS = 3;

/** The write of one event, as described on `WriteEvent`. */
export function createEventWriter(deps: EventWriterDeps): WriteEvent {
  const { db, clock, newId, lanes } = deps;

  return async (definition, reviewId, productId, version, previousSequence, data) => {
    const now = clock.now();
    const event = buildEvent({
      definition,
      reviewId,
      productId,
      version,
      previousSequence,
      data,
      now,
      id: newId(),
      lanes,
    });
    try {
      await commitEvent(db, event);
    } catch (error) {
      if (isLocusError(error) || !(await settleFailedRecord(deps, event, error))) throw error;
    }
    try {
      await applyEvent(db, event);
      await confirmEvent(db, event);
    } catch (error) {
      // Committed: the relay repairs the document and publishes the unconfirmed entry.
      deps.logger?.warn({ err: error, eventId: event._id }, 'review write committed; the relay completes it');
    }
    return event;
  };
}

/**
 * After the commit of `event` failed: true when the write is bound to complete (its event is in, or
 * the relay decided to roll it forward: then this writer inserts the event itself), false once it is
 * cancelled for good. When the decision cannot be stored either, `cause` goes to the client.
 */
export async function settleFailedRecord(
  deps: { db: Db; clock: Clock },
  event: ReviewEventDocument,
  cause: unknown,
): Promise<boolean> {
  const { db, clock } = deps;
  const { events, outbox } = reviewCollections(db);
  for (let attempt = 1; ; attempt++) {
    try {
      const outcome = await decideOutcome(db, event._id, 'cancelled', clock.now());
      if (outcome === 'completed') {
        await insertEvent(db, event);
        return true;
      }
      // The failed insert may have reached the store after all: then it is the commit.
      if (await events.findOne({ _id: event._id }, { projection: { _id: 1 } })) return true;
      // Best effort: frees the product's later events now rather than after the relay's grace period.
      await outbox.deleteOne({ _id: event._id }).catch(() => undefined);
      return false;
    } catch (error) {
      if (isLocusError(error)) throw error;
      if (attempt >= DECIDE_ATTEMPTS) throw cause;
      await sleep(50 * 4 ** attempt);
    }
  }
}

/**
 * Builds the event document of one change: the CloudEvents envelope (full state, aggregate version,
 * subject = review id) plus what the outbox needs (lane and sequence from the product id and the
 * previous event). Exported so tests can commit an event and stop before the document update.
 */
export function buildEvent(fields: {
  definition: EventTypeDefinition;
  reviewId: string;
  productId: string;
  version: number;
  previousSequence: number;
  data: ReviewEventData;
  now: Date;
  id: string;
  lanes?: number;
}): ReviewEventDocument {
  const envelope = createEnvelope(fields.definition, {
    id: fields.id,
    subject: fields.reviewId,
    time: fields.now,
    aggregateVersion: fields.version,
    data: fields.data,
  });
  const sequence = nextSequence(fields.now, fields.previousSequence);
  return {
    _id: fields.id,
    reviewId: fields.reviewId,
    version: fields.version,
    productId: fields.productId,
    lane: laneOf(fields.productId, fields.lanes ?? DEFAULT_LANES),
    sequence,
    slot: slotOf(sequence),
    envelope,
    recordedAt: fields.now,
  };
}
