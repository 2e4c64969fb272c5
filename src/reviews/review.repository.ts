import { MongoServerError, type Db } from 'mongodb';
import { LocusError } from '../shared/errors.js';
import {
  confirmationId,
  currentFromDocument,
  outboxEntryOf,
  currentFromEvent,
  documentChangeOf,
  reviewCollections,
  type CurrentReview,
  type ReviewDocument,
  type ReviewEventDocument,
  type WriteOutcome,
} from './review.model.js';

const DUPLICATE_KEY = 11000;

export function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}

/** The newest recorded event of a review (an indexed point lookup on (reviewId, version)). */
async function findNewestEvent(db: Db, reviewId: string): Promise<ReviewEventDocument | null> {
  const [newest] = await reviewCollections(db)
    .events.find({ reviewId })
    .sort({ version: -1 })
    .limit(1)
    .toArray();
  return newest ?? null;
}

/**
 * The newest committed state of a review, deleted or not, or null when it never existed. Reads the
 * document and the newest event side by side; when the event is newer (a write crashed between its
 * commit and the document update, or lost a race on FerretDB) the document is repaired before
 * returning. Cost on the happy path: two indexed point lookups in parallel.
 */
export async function loadCurrent(db: Db, reviewId: string): Promise<CurrentReview | null> {
  const [document, newest] = await Promise.all([
    reviewCollections(db).reviews.findOne({ _id: reviewId }),
    findNewestEvent(db, reviewId),
  ]);
  if (newest && (!document || newest.version > document.version)) {
    await applyEvent(db, newest);
    return currentFromEvent(newest, document);
  }
  return document ? currentFromDocument(document) : null;
}

/**
 * The commit point of a write: inserts the event of version n+1. Exactly one writer can insert a given
 * (reviewId, version) — the unique index decides, on MongoDB and FerretDB alike — so two writers that
 * both started from version n cannot both succeed: the loser gets LOCUS_VERSION_CONFLICT, never a
 * silent lost update.
 *
 * The outbox entry (a copy of the event in `review_outbox`) is inserted FIRST, so a crash between the
 * two inserts leaves an entry without its event, never a committed event the relay cannot find; the
 * relay resolves such an entry once it is old (rolls the commit forward, or drops it when another
 * event took the version or its writer cancelled it, see `decideOutcome`).
 * The caller confirms the entry with `confirmEvent` once the review document is updated.
 * @throws LocusError LOCUS_VERSION_CONFLICT when another write already took this version; any store
 *   error as it is (the write's outcome is then unknown until `decideOutcome`).
 */
export async function commitEvent(db: Db, event: ReviewEventDocument): Promise<void> {
  await reviewCollections(db).outbox.insertOne(outboxEntryOf(event));
  await insertEvent(db, event);
}

/**
 * Inserts the event of an entry already in the outbox. An insert that collides with an event of the
 * SAME id means the relay already committed this very event for a stalled writer: that is a success,
 * not a conflict.
 * @throws LocusError LOCUS_VERSION_CONFLICT when another event holds this version.
 */
export async function insertEvent(db: Db, event: ReviewEventDocument): Promise<void> {
  const { events, outbox } = reviewCollections(db);
  try {
    await events.insertOne(event);
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    const winner = await events.findOne({ reviewId: event.reviewId, version: event.version });
    if (winner?._id === event._id) return;
    // Best effort: an entry left behind here is dropped by the relay (its version has another event).
    await outbox.deleteOne({ _id: event._id }).catch(() => undefined);
    throw new LocusError(
      'LOCUS_VERSION_CONFLICT',
      `review ${event.reviewId} was changed concurrently: version ${event.version} already exists`,
      { details: [{ field: 'If-Match', message: `version ${event.version - 1} is no longer current` }] },
    );
  }
}

/**
 * Decides once what becomes of an outbox entry whose commit is in doubt: the writer that failed asks
 * for `cancelled` before it answers 5xx, the relay asks for `completed` before it rolls the commit
 * forward. One unique insert (`_id` = event id) decides; whoever comes second gets the first one's
 * outcome. FerretDB v1 honours unique indexes, so this holds there as on MongoDB.
 * @returns the outcome that holds, whoever decided it.
 */
export async function decideOutcome(
  db: Db,
  eventId: string,
  wanted: WriteOutcome,
  now: Date,
): Promise<WriteOutcome> {
  const { outcomes } = reviewCollections(db);
  try {
    await outcomes.insertOne({ _id: eventId, outcome: wanted, decidedAt: now });
    return wanted;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
  const decided = await outcomes.findOne({ _id: eventId });
  if (!decided) throw new LocusError('LOCUS_CONFLICT', `the outcome of write ${eventId} was purged`);
  return decided.outcome;
}

/**
 * Tells the relay that the event is committed and the review document reflects it, so it may publish
 * the entry without checking anything (one small insert; a repeat is a harmless duplicate key).
 */
export async function confirmEvent(db: Db, event: ReviewEventDocument): Promise<void> {
  try {
    await reviewCollections(db).outbox.insertOne({
      _id: confirmationId(event._id),
      kind: 'confirmation',
      eventId: event._id,
      lane: event.lane,
      slot: event.slot,
    });
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}

/**
 * Brings the review document up to (at least) the event's state. Never moves the document backwards
 * on MongoDB (the filter `version < v` and the write are one atomic step there). On FerretDB v1 an
 * update is read-then-overwrite without a lock, so a slow writer of version v can overwrite a newer
 * v+1 that landed in between; therefore, after writing, it looks at the newest event again and applies
 * that if it is newer. The last writer to touch the document always does this check, so once writes
 * stop the document equals the newest event on both stores. Idempotent; safe to run from any process.
 */
export async function applyEvent(db: Db, event: ReviewEventDocument): Promise<void> {
  let current: ReviewEventDocument | null = event;
  for (let round = 0; current && round < 5; round++) {
    await writeDocument(db, current);
    const newest = await findNewestEvent(db, current.reviewId);
    current = newest && newest.version > current.version ? newest : null;
  }
}

async function writeDocument(db: Db, event: ReviewEventDocument): Promise<void> {
  const { reviews } = reviewCollections(db);
  const change = documentChangeOf(event);
  const filter = { _id: event.reviewId, version: { $lt: event.version } };
  try {
    if (change.kind === 'replace') {
      // Upsert: the first version creates the document. When a newer version is already there the
      // filter misses, the upsert's insert collides on _id and 11000 means "already newer": fine.
      await reviews.replaceOne(filter, change.document, { upsert: true });
    } else {
      await reviews.updateOne(filter, { $set: change.fields });
    }
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}

/**
 * One page of live reviews ordered by id, for the query service's composition. Documents lag their
 * newest event only for a write that crashed mid-way; the outbox relay repairs those before it
 * publishes the event, so a page is at most one relay poll behind the commit.
 */
export async function listReviewDocuments(
  db: Db,
  after: string | undefined,
  limit: number,
): Promise<ReviewDocument[]> {
  return reviewCollections(db)
    .reviews.find({
      ...(after === undefined ? {} : { _id: { $gt: after } }),
      deletedAt: { $exists: false },
    })
    .sort({ _id: 1 })
    .limit(limit)
    .toArray();
}
