import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import { topicNames } from '../contracts/topics.js';
import type { OutboxSource, PendingEvent } from '../relay/outbox-source.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import {
  DEFAULT_LANES,
  reviewCollections,
  type LeaseDocument,
  type ReviewCollections,
} from './review.model.js';
import { isDuplicateKey, loadCurrent } from './review.repository.js';

export interface ReviewOutboxSourceOptions {
  /** LOCUS_TOPIC_PREFIX: events go to `topicNames(prefix).reviews`, keyed by product id. */
  topicPrefix: string;
  /** How long `waitForWork` sleeps: there are no change streams on FerretDB (default 200 ms). */
  pollIntervalMs?: number;
  /** Must equal the lanes the reviews service writes with (default 8). */
  lanes?: number;
  /** How long a lane lease lasts without renewal (default 10 s); it is renewed at a third of it. */
  leaseMs?: number;
  /** Most lanes this relay holds at once (default all); fewer lets several relays share the work. */
  maxLanes?: number;
  /** Identifies this relay in lease documents (default a random uuid). */
  owner?: string;
  name?: string;
  clock?: Clock;
  logger?: Logger;
}

interface HeldLease {
  generation: number;
  expiresAt: number;
}

/**
 * The reviews store's outbox (`review_events`) for the relay.
 *
 * Polling: FerretDB has no change streams, so `waitForWork` sleeps a short interval.
 *
 * Per-key order with several relays: events are spread over lanes by product id (the Kafka key). A
 * relay publishes a lane only while it holds that lane's lease, and within its lanes it publishes in
 * `sequence` order, which for one review is version order (see review.model.ts `nextSequence`).
 *
 * Leases on FerretDB: updates there are read-then-overwrite without a lock, so a compare-and-set on a
 * lease document (`findOneAndUpdate({expiresAt < now})`) could be won by two relays. Mutual exclusion
 * therefore rests on unique-index inserts only: a lease is a document `{lane, generation}` unique on
 * both; taking or renewing lane L means inserting generation g+1 after reading g, which exactly one
 * relay can do. A relay inserts g+1 over someone else's lease only once g has expired; the holder
 * renews (inserts g+1 itself) at a third of the lease, and uses a lane only while its generation is the
 * newest one it has seen and unexpired. Old generations are deleted a few behind the newest, so a
 * relay that stalled long enough to re-insert one finds a newer generation at its next check and
 * gives the lane up.
 *
 * Expiry compares one relay's clock with another's, so relay hosts' clocks must agree to well within
 * `leaseMs` (NTP gives milliseconds; the default lease is 10 s).
 *
 * The residual risk is a batch outliving its lease (Kafka stalled longer than `leaseMs`): the next
 * holder may re-send some of the same events after it. Consumers ignore versions they have applied, so
 * that is a duplicate, never a lost or regressed state.
 *
 * At-least-once: events are marked published only after `publish` resolves; a crash in between
 * re-sends them with the same CloudEvents id and aggregate version. Before publishing, it repairs any
 * review document that lags the events it is about to publish (a writer crashed between its commit
 * and its document update), so a published event is always reflected in the `reviews` collection and
 * purging published events loses no state.
 */
export class ReviewOutboxSource implements OutboxSource {
  readonly name: string;
  private readonly collections: ReviewCollections;
  private readonly topic: string;
  private readonly pollIntervalMs: number;
  private readonly lanes: number;
  private readonly leaseMs: number;
  private readonly maxLanes: number;
  private readonly owner: string;
  private readonly clock: Clock;
  private readonly held = new Map<number, HeldLease>();
  private lastLeaseCheck = 0;
  private refreshing: Promise<number[]> | undefined;

  constructor(
    private readonly db: Db,
    options: ReviewOutboxSourceOptions,
  ) {
    this.collections = reviewCollections(db);
    this.name = options.name ?? 'reviews';
    this.topic = topicNames(options.topicPrefix).reviews;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.lanes = options.lanes ?? DEFAULT_LANES;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.maxLanes = options.maxLanes ?? this.lanes;
    this.owner = options.owner ?? randomUUID();
    this.clock = options.clock ?? systemClock;
    options.logger?.debug({ owner: this.owner, lanes: this.lanes }, 'review outbox source ready');
  }

  /** Lanes this relay holds right now (for tests and status). */
  heldLanes(): number[] {
    const now = this.clock.now().getTime();
    return [...this.held].filter(([, lease]) => lease.expiresAt > now).map(([lane]) => lane);
  }

  async publishBatch(limit: number, publish: (events: PendingEvent[]) => Promise<void>): Promise<number> {
    const lanes = await this.refreshLeases();
    if (lanes.length === 0) return 0;
    const events = await this.collections.events
      .find({ published: false, lane: { $in: lanes } })
      .sort({ sequence: 1 })
      .limit(limit)
      .toArray();
    if (events.length === 0) return 0;
    await this.repairLaggingDocuments(events);
    await publish(
      events.map((event) => ({
        outboxId: event._id,
        topic: this.topic,
        key: event.productId,
        envelope: event.envelope,
        createdAt: event.recordedAt,
      })),
    );
    await this.collections.events.updateMany(
      { _id: { $in: events.map((event) => event._id) } },
      { $set: { published: true, publishedAt: this.clock.now() } },
    );
    return events.length;
  }

  waitForWork(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Deletes published events published before `olderThan`. Safe because a published event's state is
   * already in the review document (repaired before publishing) and writers take the newer of the
   * document and the newest event as their starting version.
   */
  async purgePublished(olderThan: Date): Promise<number> {
    const result = await this.collections.events.deleteMany({
      published: true,
      publishedAt: { $lt: olderThan },
    });
    return result.deletedCount;
  }

  async pendingCount(): Promise<number> {
    return this.collections.events.countDocuments({ published: false });
  }

  /**
   * Gives the held lanes back at once: for each, inserts the next generation already expired (a
   * unique insert like any other, so generations stay monotonic and the next relay takes the lane at
   * its next check instead of waiting for the lease to run out).
   */
  async close(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
    const held = [...this.held];
    this.held.clear();
    const now = this.clock.now();
    for (const [lane, lease] of held) {
      await this.collections.leases
        .insertOne({
          _id: `${lane}:${lease.generation + 1}`,
          lane,
          generation: lease.generation + 1,
          owner: this.owner,
          expiresAt: now,
        })
        .catch((error: unknown) => {
          if (!isDuplicateKey(error)) throw error; // someone already took the next generation
        });
    }
  }

  /**
   * Takes free or expired lanes, renews held ones at a third of their lease, drops lanes where a newer
   * generation exists. One read of the (small) lease collection per check; checks happen at most every
   * sixth of a lease. @returns the lanes usable for the next batch.
   */
  private refreshLeases(): Promise<number[]> {
    // One lease check at a time per relay, or two of its own inserts could race each other.
    this.refreshing ??= this.checkLeases().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async checkLeases(): Promise<number[]> {
    const now = this.clock.now().getTime();
    if (now - this.lastLeaseCheck < this.leaseMs / 6 && this.held.size > 0) return this.heldLanes();
    this.lastLeaseCheck = now;
    const newest = new Map<number, LeaseDocument>();
    for (const lease of await this.collections.leases.find({}).toArray()) {
      const seen = newest.get(lease.lane);
      if (!seen || lease.generation > seen.generation) newest.set(lease.lane, lease);
    }
    for (let lane = 0; lane < this.lanes; lane++) {
      const top = newest.get(lane);
      const mine = this.held.get(lane);
      if (mine && (!top || top.generation !== mine.generation || top.owner !== this.owner)) {
        this.held.delete(lane); // someone took a newer generation: give the lane up
      }
      if (!this.held.has(lane) && top && top.owner === this.owner && top.expiresAt.getTime() > now) {
        this.held.set(lane, { generation: top.generation, expiresAt: top.expiresAt.getTime() });
      }
      const holding = this.held.get(lane);
      if (holding) {
        if (holding.expiresAt - now < (this.leaseMs * 2) / 3)
          await this.insertLease(lane, holding.generation + 1, now);
        continue;
      }
      if (this.held.size >= this.maxLanes) continue;
      if (top && top.expiresAt.getTime() > now) continue; // another relay's live lease
      await this.insertLease(lane, (top?.generation ?? 0) + 1, now);
    }
    return this.heldLanes();
  }

  private async insertLease(lane: number, generation: number, now: number): Promise<void> {
    const expiresAt = now + this.leaseMs;
    try {
      await this.collections.leases.insertOne({
        _id: `${lane}:${generation}`,
        lane,
        generation,
        owner: this.owner,
        expiresAt: new Date(expiresAt),
      });
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      this.held.delete(lane); // another relay took this generation first
      return;
    }
    this.held.set(lane, { generation, expiresAt });
    await this.collections.leases.deleteMany({ lane, generation: { $lt: generation - 4 } });
  }

  private async repairLaggingDocuments(events: { reviewId: string; version: number }[]): Promise<void> {
    const newestInBatch = new Map<string, number>();
    for (const event of events) {
      newestInBatch.set(event.reviewId, Math.max(newestInBatch.get(event.reviewId) ?? 0, event.version));
    }
    const documents = await this.collections.reviews
      .find({ _id: { $in: [...newestInBatch.keys()] } }, { projection: { version: 1 } })
      .toArray();
    const documentVersion = new Map(documents.map((doc) => [doc._id, doc.version]));
    for (const [reviewId, version] of newestInBatch) {
      if ((documentVersion.get(reviewId) ?? 0) < version) await loadCurrent(this.db, reviewId);
    }
  }
}
