import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';
import type { EventTypeDefinition } from '../contracts/envelope.js';
import { createEnvelope } from '../contracts/registry.js';
import {
  ReviewCreatedV1,
  ReviewDeletedV1,
  ReviewUpdatedV1,
  type ReviewState,
} from '../contracts/review.events.js';
import type { Clock, IdGenerator } from '../shared/clock.js';
import { isLocusError, LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ProductDirectory } from './product-directory.js';
import {
  currentFromEvent,
  DEFAULT_LANES,
  laneOf,
  nextSequence,
  reviewCollections,
  slotOf,
  type CurrentReview,
  type ReviewEventData,
  type ReviewEventDocument,
} from './review.model.js';
import {
  applyEvent,
  confirmEvent,
  decideOutcome,
  insertEvent,
  isDuplicateKey,
  listReviewDocuments,
  loadCurrent,
  recordEvent,
} from './review.repository.js';

export interface NewReview {
  author: string;
  rating: number;
  title: string;
  body: string;
}

export type ReviewChanges = Partial<NewReview>;

/** A review as the API returns it: its full state and the version that state is. */
export interface VersionedReview {
  review: ReviewState;
  version: number;
}

export interface ReviewServiceDeps {
  db: Db;
  clock: Clock;
  newId: IdGenerator;
  products: ProductDirectory;
  lanes?: number;
  /** Told about writes that committed but left their document or confirmation to the relay. */
  logger?: Logger;
}

export interface ReviewService {
  /**
   * Creates a review of a product the catalog knows. With an idempotency key, a retry of the same
   * request returns the first result (`replayed: true`) instead of creating a second review.
   * @throws LocusError LOCUS_PRODUCT_NOT_FOUND, LOCUS_CIRCUIT_OPEN / LOCUS_BACKEND_UNAVAILABLE (catalog
   *   down), LOCUS_IDEMPOTENCY_MISMATCH (key reused for another request).
   */
  create(
    productId: string,
    input: NewReview,
    idempotencyKey?: string,
  ): Promise<VersionedReview & { replayed: boolean }>;
  /** @throws LocusError LOCUS_REVIEW_NOT_FOUND for unknown and deleted reviews. */
  get(id: string): Promise<VersionedReview>;
  /**
   * Applies changes; with `expectedVersion` only if the review is still at that version.
   * @throws LocusError LOCUS_REVIEW_NOT_FOUND; LOCUS_VERSION_CONFLICT when `expectedVersion` is stale
   *   or another write committed the same next version first.
   */
  update(id: string, changes: ReviewChanges, expectedVersion?: number): Promise<VersionedReview>;
  /** Deletes (tombstones) a review. Same errors as `update`. @returns the deletion's version. */
  remove(id: string, expectedVersion?: number): Promise<{ version: number }>;
  /** Live reviews ordered by id, after the given id. `next` is the last id when the page is full. */
  exportPage(
    after: string | undefined,
    limit: number,
  ): Promise<{ items: VersionedReview[]; next: string | null }>;
}

/** Without If-Match a write retries this many times when another writer wins its version. */
const UNCONDITIONAL_ATTEMPTS = 5;

/**
 * Tries to decide a failed write's outcome before answering: enough to ride out a blip of the store,
 * few enough that the client gets its answer well within the relay's grace period.
 */
const DECIDE_ATTEMPTS = 3;

/**
 * The write side of reviews. Every write is: load the newest committed version (repairing a lagging
 * document), check the precondition, record the event of version n+1 (its outbox entry first, then
 * the event: the commit point, unique on (reviewId, version)), bring the document up to it, then
 * confirm the outbox entry. A crash after the commit loses nothing: the event holds the full state and
 * the next read or write (or the outbox relay, which resolves unconfirmed entries) applies it.
 *
 * No write completes behind its client's back: once the event is in, the write answers success even
 * when the document update or the confirmation fails (the relay completes both); when recording
 * fails, the writer cancels the entry (`decideOutcome`) before it answers 5xx, unless the relay has
 * already decided to complete it, in which case the write completes and answers success.
 */
export function createReviewService(deps: ReviewServiceDeps): ReviewService {
  const { db, clock, newId } = deps;
  const lanes = deps.lanes ?? DEFAULT_LANES;

  const commit = async (
    definition: EventTypeDefinition,
    reviewId: string,
    productId: string,
    version: number,
    previousSequence: number,
    data: ReviewEventData,
  ): Promise<ReviewEventDocument> => {
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
      await recordEvent(db, event);
    } catch (error) {
      if (isLocusError(error) || !(await settleFailedRecord(event, error))) throw error;
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

  /**
   * After recording failed: true when the write is bound to complete (its event is in, or the relay
   * decided to roll it forward: then this writer inserts the event itself), false once it is cancelled
   * for good. When the decision cannot be stored either, the original error goes to the client.
   */
  const settleFailedRecord = async (event: ReviewEventDocument, cause: unknown): Promise<boolean> => {
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
  };

  const loadLive = async (id: string): Promise<CurrentReview> => {
    const current = await loadCurrent(db, id);
    if (!current || current.deletedAt !== undefined) {
      throw new LocusError('LOCUS_REVIEW_NOT_FOUND', `review ${id} does not exist`);
    }
    return current;
  };

  const checkVersion = (id: string, current: CurrentReview, expected: number | undefined) => {
    if (expected !== undefined && expected !== current.version) {
      throw new LocusError(
        'LOCUS_VERSION_CONFLICT',
        `review ${id} is at version ${current.version}, not ${expected}`,
        { details: [{ field: 'If-Match', message: `current version is ${current.version}` }] },
      );
    }
  };

  /** Runs a conditional write; without a precondition a lost race is retried from a fresh load. */
  const withRetry = async <T>(expected: number | undefined, attempt: () => Promise<T>): Promise<T> => {
    for (let round = 1; ; round++) {
      try {
        return await attempt();
      } catch (error) {
        const conflict = error instanceof LocusError && error.code === 'LOCUS_VERSION_CONFLICT';
        if (!conflict || expected !== undefined || round >= UNCONDITIONAL_ATTEMPTS) throw error;
      }
    }
  };

  return {
    async create(productId, input, idempotencyKey) {
      const { idempotencyKeys, events } = reviewCollections(db);
      const requestHash = hashRequest(productId, input);
      let reviewId = newId();
      if (idempotencyKey !== undefined) {
        const claimed = await claimIdempotencyKey(idempotencyKey, requestHash, reviewId);
        reviewId = claimed.reviewId;
        if (claimed.replay) {
          const first = await events.findOne({ reviewId, version: 1 });
          if (first) return { ...firstResult(first), replayed: true };
          // The first attempt claimed the key but did not commit: carry on and create it now.
        }
      }
      await deps.products.assertExists(productId);
      const now = clock.now().toISOString();
      const state: ReviewState = { id: reviewId, productId, ...input, createdAt: now, updatedAt: now };
      try {
        await commit(ReviewCreatedV1, reviewId, productId, 1, 0, state);
      } catch (error) {
        // Two retries with one key raced: the other committed version 1 of the same review.
        const first = await events.findOne({ reviewId, version: 1 });
        if (idempotencyKey !== undefined && first) return { ...firstResult(first), replayed: true };
        throw error;
      }
      return { review: state, version: 1, replayed: false };

      async function claimIdempotencyKey(key: string, hash: string, candidate: string) {
        try {
          await idempotencyKeys.insertOne({
            _id: key,
            requestHash: hash,
            reviewId: candidate,
            createdAt: clock.now(),
          });
          return { reviewId: candidate, replay: false };
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
        }
        const existing = await idempotencyKeys.findOne({ _id: key });
        if (!existing) throw new LocusError('LOCUS_CONFLICT', 'idempotency key is being reused concurrently');
        if (existing.requestHash !== hash) {
          throw new LocusError(
            'LOCUS_IDEMPOTENCY_MISMATCH',
            'Idempotency-Key was used for a different request',
            {
              details: [{ field: 'Idempotency-Key', message: 'reused with another product or body' }],
            },
          );
        }
        return { reviewId: existing.reviewId, replay: true };
      }
    },

    async get(id) {
      const current = await loadLive(id);
      return { review: current.state, version: current.version };
    },

    async update(id, changes, expectedVersion) {
      return withRetry(expectedVersion, async () => {
        const current = await loadLive(id);
        checkVersion(id, current, expectedVersion);
        const state: ReviewState = { ...current.state, ...changes, updatedAt: clock.now().toISOString() };
        const version = current.version + 1;
        await commit(ReviewUpdatedV1, id, current.productId, version, current.sequence, state);
        return { review: state, version };
      });
    },

    async remove(id, expectedVersion) {
      return withRetry(expectedVersion, async () => {
        const current = await loadLive(id);
        checkVersion(id, current, expectedVersion);
        const version = current.version + 1;
        const data = { id, productId: current.productId, deletedAt: clock.now().toISOString() };
        await commit(ReviewDeletedV1, id, current.productId, version, current.sequence, data);
        return { version };
      });
    },

    async exportPage(after, limit) {
      const documents = await listReviewDocuments(db, after, limit);
      const items = documents.map((doc) => {
        const { _id, version, sequence: _sequence, deletedAt: _deletedAt, ...rest } = doc;
        return { review: { id: _id, ...rest }, version };
      });
      const last = documents[documents.length - 1];
      return { items, next: documents.length === limit && last ? last._id : null };
    },
  };
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

function firstResult(event: ReviewEventDocument): VersionedReview {
  return { review: currentFromEvent(event, null).state, version: 1 };
}

function hashRequest(productId: string, input: NewReview): string {
  const canonical = JSON.stringify([productId, input.author, input.rating, input.title, input.body]);
  return createHash('sha256').update(canonical).digest('hex');
}
