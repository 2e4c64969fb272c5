import { MongoServerError, type Db } from 'mongodb';
import type { Clock } from '../shared/clock.js';
import { isLocusError, LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { eventOfOutboxEntry, reviewCollections, type OutboxEntryDocument } from './review.model.js';
import { decideOutcome, isDuplicateKey, loadCurrent } from './review.repository.js';

/** What becomes of an unconfirmed outbox entry at this poll. */
export type Verdict = 'publish' | 'drop' | 'wait' | 'parked';

/**
 * Polls in a row in which the store refused to complete one unconfirmed entry, while answering every
 * other query, before the relay parks it: enough to ride out a blip, few enough that one poison entry
 * holds back only its own product, and only for a moment.
 */
const PARK_AFTER_REFUSALS = 3;

/**
 * Decides unconfirmed outbox entries (their writer is in flight, lost the version race, or crashed).
 * One younger than `resolveAfterMs` waits, with every later event of its product; an older one's writer
 * is presumed dead and the entry is resolved against `review_events` (see `resolveEntry`).
 */
export class UnconfirmedEntries {
  /** Entries the store refused to complete, by id: how many polls in a row. */
  private readonly refusals = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly options: {
      resolveAfterMs: number;
      clock: Clock;
      logger: Logger | undefined;
      /** Moves an entry the store keeps refusing to the dead letters. */
      park(entry: OutboxEntryDocument, reason: string): Promise<void>;
    },
  ) {}

  /**
   * Waits, resolves, or parks `entry`. An entry the store refuses to complete (while it answers every
   * other query) poll after poll is parked instead of failing every batch: the same input fails the
   * same way, so retrying it is no cure. Store outages (network errors, retryable server errors) throw.
   */
  async decide(entry: OutboxEntryDocument): Promise<Verdict> {
    const { clock, logger, resolveAfterMs } = this.options;
    if (clock.now().getTime() - entry.recordedAt.getTime() < resolveAfterMs) return 'wait';
    try {
      const verdict = await resolveEntry(this.db, entry, clock);
      this.refusals.delete(entry._id);
      return verdict;
    } catch (error) {
      if (!refusedByStore(error)) throw error;
      const refusals = (this.refusals.get(entry._id) ?? 0) + 1;
      const reason = `cannot complete the unconfirmed outbox entry: ${(error as Error).message}`;
      if (refusals < PARK_AFTER_REFUSALS) {
        this.refusals.set(entry._id, refusals);
        logger?.warn({ outboxId: entry._id, refusals, reason }, 'outbox entry refused; its product waits');
        return 'wait';
      }
      this.refusals.delete(entry._id);
      await this.options.park(entry, reason);
      return 'parked';
    }
  }
}

/**
 * Decides an unconfirmed entry whose writer is presumed dead, by looking its version up in
 * `review_events`: the same event → committed: repair the review document, publish; another event →
 * a loser's leftover: drop; none → roll the commit forward by inserting the event, unless the review
 * document is already past that version (the winner was published and purged: drop) or its writer,
 * still alive, cancelled it before answering its client 5xx (`decideOutcome`, one unique insert, says
 * which came first: drop). The review document is repaired before anything is published.
 */
async function resolveEntry(db: Db, entry: OutboxEntryDocument, clock: Clock): Promise<'publish' | 'drop'> {
  const { events, reviews } = reviewCollections(db);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await events.findOne({ reviewId: entry.reviewId, version: entry.version });
    if (existing) {
      if (existing._id !== entry._id) return 'drop';
      await loadCurrent(db, entry.reviewId);
      return 'publish';
    }
    const document = await reviews.findOne({ _id: entry.reviewId }, { projection: { version: 1 } });
    if (document && document.version >= entry.version) return 'drop';
    // The writer may live and have told its client the write failed: one unique insert decides.
    const outcome = await decideOutcome(db, entry._id, 'completed', clock.now());
    if (outcome === 'cancelled') return 'drop';
    try {
      await events.insertOne(eventOfOutboxEntry(entry)); // roll the dead writer's commit forward
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      continue; // someone committed this version meanwhile: look again
    }
    await loadCurrent(db, entry.reviewId);
    return 'publish';
  }
  throw new LocusError(
    'LOCUS_CONFLICT',
    `cannot resolve outbox entry ${entry._id} of review ${entry.reviewId}: its version keeps changing`,
  );
}

/**
 * The store answered and refused this write (not a network error, not one it labels retryable), or
 * the entry's version kept changing under the resolver: a property of the entry, not an outage.
 */
function refusedByStore(error: unknown): boolean {
  if (isLocusError(error)) return true;
  return error instanceof MongoServerError && !error.hasErrorLabel('RetryableWriteError');
}
