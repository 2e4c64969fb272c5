import type { Db } from 'mongodb';
import {
  ReviewCreatedV1,
  ReviewDeletedV1,
  ReviewUpdatedV1,
  type ReviewState,
} from '../contracts/review.events.js';
import type { Clock, IdGenerator } from '../shared/clock.js';
import { LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ProductDirectory } from './product-directory.js';
import { claimIdempotencyKey, hashCreateRequest } from './review.idempotency.js';
import {
  currentFromEvent,
  DEFAULT_LANES,
  reviewCollections,
  type CurrentReview,
  type ReviewEventDocument,
} from './review.model.js';
import { listReviewDocuments, loadCurrent } from './review.repository.js';
import { createReviewBatch, type BatchItem } from './review.batch.js';
import { createEventWriter } from './review.write.js';

export interface NewReview {
  author: string;
  rating: number;
  title: string;
  body: string;
}

type ReviewChanges = Partial<NewReview>;

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
  /**
   * Creates many reviews, each as `create` does (same checks, events and outbox), a step at a time
   * for the whole batch (see review.batch.ts). Nothing is written when an item names an unknown product.
   * @throws LocusError LOCUS_PRODUCT_NOT_FOUND naming the item; LOCUS_BACKEND_UNAVAILABLE naming the
   *   items not written when the store failed part-way.
   */
  createBatch(items: BatchItem[]): Promise<VersionedReview[]>;
  /** Live reviews ordered by id, after the given id. `next` is the last id when the page is full. */
  exportPage(
    after: string | undefined,
    limit: number,
  ): Promise<{ items: VersionedReview[]; next: string | null }>;
}

/** Without If-Match a write retries this many times when another writer wins its version. */
const UNCONDITIONAL_ATTEMPTS = 5;

/**
 * The write side of reviews. Every write loads the newest committed version (repairing a lagging
 * document), checks its precondition, then writes the event of version n+1 (see review.write.ts for
 * the commit protocol and what a failure leaves behind).
 */
export function createReviewService(deps: ReviewServiceDeps): ReviewService {
  const { db, clock, newId } = deps;
  const write = createEventWriter({
    db,
    clock,
    newId,
    lanes: deps.lanes ?? DEFAULT_LANES,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });

  return {
    async create(productId, input, idempotencyKey) {
      const { events } = reviewCollections(db);
      let reviewId = newId();
      if (idempotencyKey !== undefined) {
        const requestHash = hashCreateRequest(productId, input);
        const claimed = await claimIdempotencyKey(db, clock, idempotencyKey, requestHash, reviewId);
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
        await write(ReviewCreatedV1, reviewId, productId, 1, 0, state);
      } catch (error) {
        // Two retries with one key raced: the other committed version 1 of the same review.
        const first = await events.findOne({ reviewId, version: 1 });
        if (idempotencyKey !== undefined && first) return { ...firstResult(first), replayed: true };
        throw error;
      }
      return { review: state, version: 1, replayed: false };
    },

    async get(id) {
      const current = await loadLive(db, id);
      return { review: current.state, version: current.version };
    },

    async update(id, changes, expectedVersion) {
      return withRetry(expectedVersion, async () => {
        const current = await loadLive(db, id, expectedVersion);
        const state: ReviewState = { ...current.state, ...changes, updatedAt: clock.now().toISOString() };
        const version = current.version + 1;
        await write(ReviewUpdatedV1, id, current.productId, version, current.sequence, state);
        return { review: state, version };
      });
    },

    async remove(id, expectedVersion) {
      return withRetry(expectedVersion, async () => {
        const current = await loadLive(db, id, expectedVersion);
        const version = current.version + 1;
        const data = { id, productId: current.productId, deletedAt: clock.now().toISOString() };
        await write(ReviewDeletedV1, id, current.productId, version, current.sequence, data);
        return { version };
      });
    },

    createBatch(items) {
      const lanes = deps.lanes ?? DEFAULT_LANES;
      const logger = deps.logger ? { logger: deps.logger } : {};
      return createReviewBatch({ db, clock, newId, products: deps.products, lanes, ...logger }, items);
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
 * The newest committed state of a live review, at `expected` when given.
 * @throws LocusError LOCUS_REVIEW_NOT_FOUND (unknown or deleted), LOCUS_VERSION_CONFLICT (not at
 *   `expected`).
 */
async function loadLive(db: Db, id: string, expected?: number): Promise<CurrentReview> {
  const current = await loadCurrent(db, id);
  if (!current || current.deletedAt !== undefined) {
    throw new LocusError('LOCUS_REVIEW_NOT_FOUND', `review ${id} does not exist`);
  }
  if (expected !== undefined && expected !== current.version) {
    throw new LocusError(
      'LOCUS_VERSION_CONFLICT',
      `review ${id} is at version ${current.version}, not ${expected}`,
      {
        details: [{ field: 'If-Match', message: `current version is ${current.version}` }],
      },
    );
  }
  return current;
}

/** Runs a conditional write; without a precondition a lost race is retried from a fresh load. */
async function withRetry<T>(expected: number | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await attempt();
    } catch (error) {
      const conflict = error instanceof LocusError && error.code === 'LOCUS_VERSION_CONFLICT';
      if (!conflict || expected !== undefined || round >= UNCONDITIONAL_ATTEMPTS) throw error;
    }
  }
}

function firstResult(event: ReviewEventDocument): VersionedReview {
  return { review: currentFromEvent(event, null).state, version: 1 };
}
