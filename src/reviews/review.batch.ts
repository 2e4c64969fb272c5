import { MongoBulkWriteError, type Db } from 'mongodb';
import { ReviewCreatedV1, type ReviewState } from '../contracts/review.events.js';
import type { Clock, IdGenerator } from '../shared/clock.js';
import { isLocusError, LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ProductDirectory } from './product-directory.js';
import {
  confirmationId,
  documentChangeOf,
  outboxEntryOf,
  reviewCollections,
  type OutboxConfirmationDocument,
  type ReviewDocument,
  type ReviewEventDocument,
} from './review.model.js';
import { isDuplicateKey } from './review.repository.js';
import type { NewReview, VersionedReview } from './review.service.js';
import { buildEvent, settleFailedRecord } from './review.write.js';

/** One review of a batch. */
export interface BatchItem {
  productId: string;
  review: NewReview;
  /**
   * When the review was written, for imports of existing reviews by trusted in-process callers (the
   * locality benchmark's seeding); the HTTP route does not accept it, so its reviews are created now.
   */
  createdAt?: string;
}

export interface ReviewBatchDeps {
  db: Db;
  clock: Clock;
  newId: IdGenerator;
  products: ProductDirectory;
  lanes: number;
  logger?: Logger;
}

/**
 * Creates many reviews with the write protocol of one (review.write.ts), a step at a time for the
 * whole batch: every product is checked first, then all outbox entries are inserted, then all events
 * (the commit point of each review), then the documents and the confirmations. Each review is created
 * exactly as `create` creates it — same event, same outbox entry, same relay path — in a few round
 * trips per batch instead of several per review.
 *
 * A batch naming an unknown product writes nothing. When recording fails part-way, every review of the
 * batch is settled as a single write's is (`settleFailedRecord`): those whose event is in stay and are
 * completed, the others are cancelled, and the error names the items not written.
 * @throws LocusError LOCUS_PRODUCT_NOT_FOUND naming `body/items/<i>/productId`, before anything is
 *   written; the catalog's errors (LOCUS_CIRCUIT_OPEN, LOCUS_BACKEND_UNAVAILABLE) likewise;
 *   LOCUS_BACKEND_UNAVAILABLE naming `body/items/<i>` for each item not written when the store failed.
 */
export async function createReviewBatch(
  deps: ReviewBatchDeps,
  items: BatchItem[],
): Promise<VersionedReview[]> {
  await assertProductsExist(deps.products, items);
  const now = deps.clock.now();
  const states: ReviewState[] = items.map((item) => {
    const at = item.createdAt ?? now.toISOString();
    const id = deps.newId();
    return { id, productId: item.productId, ...item.review, createdAt: at, updatedAt: at };
  });
  const events = states.map((state) => createdEvent(state, now, deps.newId(), deps.lanes));
  await recordBatch(deps, events);
  await completeBatch(deps, events);
  return states.map((review) => ({ review, version: 1 }));
}

/** Every distinct product once, in the order the items name them. */
async function assertProductsExist(products: ProductDirectory, items: BatchItem[]): Promise<void> {
  const checked = new Set<string>();
  for (const [index, item] of items.entries()) {
    if (checked.has(item.productId)) continue;
    checked.add(item.productId);
    try {
      await products.assertExists(item.productId);
    } catch (error) {
      if (!(error instanceof LocusError) || error.code !== 'LOCUS_PRODUCT_NOT_FOUND') throw error;
      throw new LocusError('LOCUS_PRODUCT_NOT_FOUND', `items[${index}]: no product ${item.productId}`, {
        details: [{ field: `body/items/${index}/productId`, message: 'unknown product' }],
      });
    }
  }
}

/**
 * The outbox entries, then the events. On a failure each review is settled on its own; the batch
 * fails naming those cancelled.
 */
async function recordBatch(deps: ReviewBatchDeps, events: ReviewEventDocument[]): Promise<void> {
  const { outbox, events: eventLog } = reviewCollections(deps.db);
  try {
    await outbox.insertMany(events.map(outboxEntryOf), { ordered: false });
    await eventLog.insertMany(events, { ordered: false });
    return;
  } catch (cause) {
    const lost: number[] = [];
    for (const [index, event] of events.entries()) {
      try {
        if (!(await settleFailedRecord(deps, event, cause))) lost.push(index);
      } catch (error) {
        if (isLocusError(error)) throw error;
        lost.push(index);
      }
    }
    if (lost.length === 0) return;
    throw new LocusError(
      'LOCUS_BACKEND_UNAVAILABLE',
      `the reviews store failed: ${events.length - lost.length} of ${events.length} reviews written`,
      {
        cause,
        details: lost.map((index) => ({ field: `body/items/${index}`, message: 'not written' })),
        retryAfterSeconds: 1,
      },
    );
  }
}

/**
 * Documents and confirmations of committed events. A failure is logged, not thrown: the reviews are
 * committed, and the relay completes what is missing as it does for a single write.
 */
async function completeBatch(deps: ReviewBatchDeps, events: ReviewEventDocument[]): Promise<void> {
  const { reviews, outbox } = reviewCollections(deps.db);
  const documents: ReviewDocument[] = [];
  for (const event of events) {
    const change = documentChangeOf(event);
    if (change.kind === 'replace') documents.push(change.document);
  }
  const confirmations: OutboxConfirmationDocument[] = events.map((event) => ({
    _id: confirmationId(event._id),
    kind: 'confirmation',
    eventId: event._id,
    lane: event.lane,
    slot: event.slot,
  }));
  try {
    // Version 1 of a new review: the document does not exist yet, or the relay already wrote it.
    await ignoringDuplicates(reviews.insertMany(documents, { ordered: false }));
    await ignoringDuplicates(outbox.insertMany(confirmations, { ordered: false }));
  } catch (error) {
    deps.logger?.warn(
      { err: error, reviews: events.length },
      'review batch committed; the relay completes its documents',
    );
  }
}

const DUPLICATE_KEY = 11000;

/** A bulk insert whose only failures are duplicate keys (already there) succeeded. */
async function ignoringDuplicates(insert: Promise<unknown>): Promise<void> {
  try {
    await insert;
  } catch (error) {
    const writeErrors = error instanceof MongoBulkWriteError ? [error.writeErrors].flat() : [];
    const duplicatesOnly =
      writeErrors.length > 0 && writeErrors.every((writeError) => writeError.code === DUPLICATE_KEY);
    if (!duplicatesOnly && !isDuplicateKey(error)) throw error;
  }
}

/** The event that creates `state`, its review's first: version 1, first of its product's sequence. */
export function createdEvent(state: ReviewState, now: Date, id: string, lanes?: number): ReviewEventDocument {
  return buildEvent({
    definition: ReviewCreatedV1,
    reviewId: state.id,
    productId: state.productId,
    version: 1,
    previousSequence: 0,
    data: state,
    now,
    id,
    lanes,
  });
}
