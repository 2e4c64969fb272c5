import { createHash } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { EventEnvelope } from '../contracts/envelope.js';
import type { ReviewDeleted, ReviewState } from '../contracts/review.events.js';

/**
 * The reviews store (MongoDB wire protocol; FerretDB v1 in development) has four collections:
 *
 * - `review_events` — append-only, one document per accepted change, unique on (reviewId, version).
 *   Inserting version n+1 is the COMMIT POINT of every write: exactly one writer can insert it, on
 *   MongoDB and on FerretDB alike (FerretDB enforces unique indexes but has neither transactions nor
 *   atomic conditional updates, so a unique insert is the only compare-and-set both stores share).
 *   The event carries the review's full state, so the newest event alone says what the review is.
 * - `review_outbox` — the relay's work queue, small: only events not yet published. A writer inserts
 *   the outbox entry (a copy of the event) BEFORE the event, so every committed event has an entry
 *   whatever crashes, and a confirmation (`confirmed:<event id>`) after the event and the document
 *   update; the relay publishes confirmed entries directly and resolves unconfirmed old ones (see
 *   review-outbox.source.ts). Published entries are deleted, not updated.
 * - `reviews` — the current state of each review, a cache of its newest event brought up to date right
 *   after the event insert. It may lag (a crash between the two steps; a lost race on FerretDB), never
 *   lead: it is only ever written with states that are already committed events. Reads and writes
 *   compare it with the newest event (one indexed point lookup) and repair it when it lags.
 * - `idempotency_keys` — `Idempotency-Key` of POST → the review it created (unique `_id`).
 * - `outbox_leases` — lane leases of the relays (see review-outbox.source.ts).
 * - `write_outcomes` — for an outbox entry whose writer failed before its commit was known, whether
 *   it is cancelled (by the writer, before it answers 5xx) or completed (by the relay, before it rolls
 *   the commit forward): unique `_id` = event id, so exactly one of the two decides (see
 *   review.repository.ts `decideOutcome`).
 */
const COLLECTIONS = {
  reviews: 'reviews',
  events: 'review_events',
  idempotencyKeys: 'idempotency_keys',
  leases: 'outbox_leases',
  outbox: 'review_outbox',
  outcomes: 'write_outcomes',
} as const;

/** Number of relay lanes: events are spread over lanes by product id; one relay holds a lane at a time. */
export const DEFAULT_LANES = 8;

/** The review document: the newest state, with `deletedAt` set once the review is deleted (a tombstone). */
export interface ReviewDocument {
  _id: string;
  productId: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  createdAt: string;
  updatedAt: string;
  version: number;
  /** Outbox order of the event that produced this state (see `nextSequence`). */
  sequence: number;
  deletedAt?: string;
}

export type ReviewEventData = ReviewState | ReviewDeleted;

/** One change of one review: the commit record (its outbox entry is a copy in `review_outbox`). */
export interface ReviewEventDocument {
  /** The CloudEvents id of the envelope. */
  _id: string;
  reviewId: string;
  version: number;
  productId: string;
  /** Relay lane, from the product id: all events of one product share a lane. */
  lane: number;
  /** Publication order within a lane: grows with every version of a review (see `nextSequence`). */
  sequence: number;
  /** `slotOf(sequence)`: a coarse equality key that FerretDB can filter on in SQL (see `slotOf`). */
  slot: number;
  envelope: EventEnvelope<ReviewEventData>;
  recordedAt: Date;
}

/**
 * An event waiting in `review_outbox`: a copy of the event document, inserted before the event, with
 * the envelope as its JSON text: FerretDB decodes one string field several times faster than the
 * nested document, and the relay sends JSON anyway.
 */
export interface OutboxEntryDocument extends Omit<ReviewEventDocument, 'envelope'> {
  kind: 'event';
  envelope: string;
}

export function outboxEntryOf(event: ReviewEventDocument): OutboxEntryDocument {
  return { ...event, kind: 'event', envelope: JSON.stringify(event.envelope) };
}

export function eventOfOutboxEntry(entry: OutboxEntryDocument): ReviewEventDocument {
  const { kind: _kind, envelope, ...event } = entry;
  return { ...event, envelope: JSON.parse(envelope) as ReviewEventDocument['envelope'] };
}

/** "The event committed and the review document reflects it": inserted by the writer last. */
export interface OutboxConfirmationDocument {
  /** `confirmed:<event id>` (see `confirmationId`). */
  _id: string;
  kind: 'confirmation';
  eventId: string;
  lane: number;
  slot: number;
}

export type OutboxDocument = OutboxEntryDocument | OutboxConfirmationDocument;

export function confirmationId(eventId: string): string {
  return `confirmed:${eventId}`;
}

interface IdempotencyKeyDocument {
  _id: string;
  /** sha256 of the product id and the request body: a key reused for another request is refused. */
  requestHash: string;
  reviewId: string;
  createdAt: Date;
}

/** What became of a write whose writer failed between its outbox entry and a known commit. */
export type WriteOutcome = 'cancelled' | 'completed';

interface WriteOutcomeDocument {
  /** The event id of the outbox entry. */
  _id: string;
  outcome: WriteOutcome;
  decidedAt: Date;
}

export interface LeaseDocument {
  /** `<lane>:<generation>`: a generation is taken by exactly one relay (unique `_id`). */
  _id: string;
  lane: number;
  generation: number;
  owner: string;
  expiresAt: Date;
}

export interface ReviewCollections {
  reviews: Collection<ReviewDocument>;
  events: Collection<ReviewEventDocument>;
  idempotencyKeys: Collection<IdempotencyKeyDocument>;
  leases: Collection<LeaseDocument>;
  outbox: Collection<OutboxDocument>;
  outcomes: Collection<WriteOutcomeDocument>;
}

export function reviewCollections(db: Db): ReviewCollections {
  return {
    reviews: db.collection<ReviewDocument>(COLLECTIONS.reviews),
    events: db.collection<ReviewEventDocument>(COLLECTIONS.events),
    idempotencyKeys: db.collection<IdempotencyKeyDocument>(COLLECTIONS.idempotencyKeys),
    leases: db.collection<LeaseDocument>(COLLECTIONS.leases),
    outbox: db.collection<OutboxDocument>(COLLECTIONS.outbox),
    outcomes: db.collection<WriteOutcomeDocument>(COLLECTIONS.outcomes),
  };
}

/**
 * Creates the indexes the design relies on; idempotent (createIndex of an existing index is a no-op),
 * so every process runs it at start.
 */
export async function ensureReviewIndexes(db: Db): Promise<void> {
  const c = reviewCollections(db);
  // The commit point: one event per (review, version).
  await c.events.createIndex({ reviewId: 1, version: 1 }, { unique: true, name: 'review_version_unique' });
  // The retention purge: events recorded before the cutoff.
  await c.events.createIndex({ recordedAt: 1 }, { name: 'purge_by_time' });
  // The relay reads a lane's entries and deletes published ones by (lane, slot, _id). On FerretDB v1
  // these btree indexes are not used (its equality filter is `_jsonb->'f' @> v`, which a btree on
  // `_jsonb->'f'` cannot serve), but they keep the same queries indexed on MongoDB.
  await c.outbox.createIndex({ lane: 1, slot: 1 }, { name: 'outbox_lane_slot' });
  await c.reviews.createIndex({ productId: 1 }, { name: 'by_product' });
  await c.leases.createIndex({ lane: 1, generation: 1 }, { unique: true, name: 'lane_generation_unique' });
  // The retention purges (review.retention.ts); like the outbox's, used on MongoDB only.
  await c.idempotencyKeys.createIndex({ createdAt: 1 }, { name: 'purge_by_time' });
  await c.outcomes.createIndex({ decidedAt: 1 }, { name: 'purge_by_time' });
}

/**
 * The slot of an event: its sequence in 10-second steps. FerretDB v1 pushes only equality on a
 * top-level scalar down to SQL (`$in`, ranges and sorts run in Go over every row), so the relay
 * deletes published entries with `{lane, slot, _id: {$in}}`: SQL returns only that slot's rows and
 * the `$in` runs over those few instead of over the whole outbox.
 */
export function slotOf(sequence: number): number {
  return Math.floor(sequence / (1024 * 10_000));
}

/** The relay lane of a product: stable, so one product's events always share a lane. */
export function laneOf(productId: string, lanes = DEFAULT_LANES): number {
  return createHash('sha256').update(productId).digest().readUInt32BE(0) % lanes;
}

/**
 * The outbox order of a new event: wall-clock based (so events of different reviews of one product go
 * out roughly in commit order) but always above the review's previous event, so one review's versions
 * are published in version order even across writers whose clocks disagree. ms × 1024 stays below
 * 2^53 until the year 2248.
 */
export function nextSequence(now: Date, previousSequence: number): number {
  return Math.max(now.getTime() * 1024, previousSequence + 1);
}

/** The state a write starts from: the newest committed version of a review. */
export interface CurrentReview {
  version: number;
  sequence: number;
  productId: string;
  state: ReviewState;
  deletedAt?: string;
}

export function currentFromDocument(doc: ReviewDocument): CurrentReview {
  const { _id, version, sequence, deletedAt, ...rest } = doc;
  return {
    version,
    sequence,
    productId: doc.productId,
    state: { id: _id, ...rest },
    ...(deletedAt === undefined ? {} : { deletedAt }),
  };
}

/**
 * What an event writes into the review document: the full state for a creation or an update; for a
 * deletion only the tombstone fields (`deletedAt`, `updatedAt`, version), the last content stays.
 */
export function documentChangeOf(
  event: ReviewEventDocument,
): { kind: 'replace'; document: ReviewDocument } | { kind: 'tombstone'; fields: Partial<ReviewDocument> } {
  const data = event.envelope.data;
  const base = { version: event.version, sequence: event.sequence };
  if (isDeletion(data)) {
    return {
      kind: 'tombstone',
      fields: { productId: data.productId, deletedAt: data.deletedAt, updatedAt: data.deletedAt, ...base },
    };
  }
  const { id, ...rest } = data;
  return { kind: 'replace', document: { _id: id, ...rest, ...base } };
}

/** The state a write starts from when only the newest event is known. */
export function currentFromEvent(event: ReviewEventDocument, document: ReviewDocument | null): CurrentReview {
  const data = event.envelope.data;
  const base = { version: event.version, sequence: event.sequence, productId: event.productId };
  if (isDeletion(data)) {
    const last = document ? currentFromDocument(document).state : undefined;
    return {
      ...base,
      deletedAt: data.deletedAt,
      state: last ?? {
        id: data.id,
        productId: data.productId,
        author: '-',
        rating: 1,
        title: '',
        body: '',
        createdAt: data.deletedAt,
        updatedAt: data.deletedAt,
      },
    };
  }
  return { ...base, state: data };
}

export function isDeletion(data: ReviewEventData): data is ReviewDeleted {
  return 'deletedAt' in data;
}
