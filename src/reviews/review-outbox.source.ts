/**
 * The reviews store's outbox (`review_outbox`) for the relay: queueing and publishing. It reads the
 * drained held lanes in one query, publishes in `sequence` order, and deletes published entries by
 * slot; unconfirmed entries go to the resolver, lanes to the leases, unusable entries to the relay
 * dead letters. The protocol (commit point, lanes, costs on FerretDB) is in ARCHITECTURE.md.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import type { EventEnvelope } from '../contracts/envelope.js';
import { topicNames } from '../contracts/topics.js';
import type { OutboxSource, PendingEvent, Publish } from '../relay/outbox-source.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { deadLetterCollection, parkEntry, ReviewOutboxDeadLetters } from './review-outbox.dead-letters.js';
import { LaneLeases } from './review-outbox.leases.js';
import { markDone, takeBatch, unreadable, type LaneQueue } from './review-outbox.queue.js';
import { UnconfirmedEntries } from './review-outbox.resolver.js';
import { DELETE_CHUNK, purgePublishedEvents } from './review-outbox.retention.js';
import {
  confirmationId,
  DEFAULT_LANES,
  reviewCollections,
  type OutboxDocument,
  type OutboxEntryDocument,
  type ReviewCollections,
} from './review.model.js';

export interface ReviewOutboxSourceOptions {
  /** LOCUS_TOPIC_PREFIX: events go to `topicNames(prefix).reviews`, keyed by product id. */
  topicPrefix: string;
  /** Longest wait between polls of an idle outbox: there are no change streams on FerretDB (default 200 ms). */
  pollIntervalMs?: number;
  /** Must equal the lanes the reviews service writes with (default 8). */
  lanes?: number;
  /** How long a lane lease lasts without renewal (default 10 s); it is renewed at a third of it. */
  leaseMs?: number;
  /** Most lanes this relay holds at once (default all); fewer lets several relays share the work. */
  maxLanes?: number;
  /**
   * How old an unconfirmed outbox entry must be before the relay treats its writer as dead and
   * resolves it itself (default 5 s; younger ones wait, with every later event of their product).
   */
  resolveAfterMs?: number;
  /** Identifies this relay in lease documents (default a random uuid). */
  owner?: string;
  name?: string;
  clock?: Clock;
  logger?: Logger;
}

/**
 * Publishes the reviews outbox, lane by lane, while it holds their leases. At-least-once: entries are
 * deleted only after `publish` resolves; a crash in between, or a lane lost between publishing and
 * deleting, re-sends them (a duplicate consumers ignore, never a lost or regressed state).
 */
export class ReviewOutboxSource implements OutboxSource {
  readonly name: string;
  private readonly collections: ReviewCollections;
  private readonly topic: string;
  readonly pollIntervalMs: number;
  private readonly lanes: number;
  private readonly clock: Clock;
  private readonly leases: LaneLeases;
  private readonly unconfirmed: UnconfirmedEntries;
  private readonly queues = new Map<number, LaneQueue>();
  private readonly logger: Logger | undefined;
  readonly deadLetters: ReviewOutboxDeadLetters;

  constructor(
    private readonly db: Db,
    options: ReviewOutboxSourceOptions,
  ) {
    this.collections = reviewCollections(db);
    this.name = options.name ?? 'reviews';
    this.topic = topicNames(options.topicPrefix).reviews;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.lanes = options.lanes ?? DEFAULT_LANES;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    const owner = options.owner ?? randomUUID();
    this.leases = new LaneLeases(this.collections, {
      lanes: this.lanes,
      leaseMs: options.leaseMs ?? 10_000,
      maxLanes: options.maxLanes ?? this.lanes,
      owner,
      clock: this.clock,
    });
    this.unconfirmed = new UnconfirmedEntries(db, {
      resolveAfterMs: options.resolveAfterMs ?? 5_000,
      clock: this.clock,
      logger: this.logger,
      park: (entry, reason) => this.park(entry, false, reason),
    });
    this.deadLetters = new ReviewOutboxDeadLetters(db, this.name);
    options.logger?.debug({ owner, lanes: this.lanes }, 'review outbox source ready');
  }

  /** Lanes this relay holds right now (for tests and status). */
  heldLanes(): number[] {
    return this.leases.heldLanes();
  }

  async publishBatch(limit: number, publish: Publish): Promise<number> {
    const lanes = await this.leases.refresh();
    for (const lane of [...this.queues.keys()]) {
      if (lanes.includes(lane)) continue;
      // Lost the lane: deleting what was published is still right; the rest is the new holder's.
      await this.flushDone(lane);
      this.queues.delete(lane);
    }
    if (lanes.length === 0) return 0;
    const empty = lanes.filter((lane) => (this.queues.get(lane)?.ready.length ?? 0) === 0);
    if (empty.length > 0) await this.loadLanes(empty);

    const batch = takeBatch(this.queues, lanes, limit);
    if (batch.length === 0) return 0;
    const events: PendingEvent[] = batch.map((entry) => ({
      outboxId: entry._id,
      topic: this.topic,
      key: entry.productId,
      envelope: JSON.parse(entry.envelope) as EventEnvelope,
      createdAt: entry.recordedAt,
    }));
    const outcome = (await publish(events)) ?? { published: events, parked: [] };
    const entries = new Map(batch.map((entry) => [entry._id, entry]));
    // takeBatch takes each lane's queue from its head; the entries of a parked product stay in the
    // outbox (not marked done) and wait behind its dead letter from the next read on.
    for (const entry of batch) this.queues.get(entry.lane)!.ready.shift();
    const parkedProducts = new Set(outcome.parked.map(({ event }) => event.key));
    if (parkedProducts.size > 0) {
      for (const queue of this.queues.values()) {
        queue.ready = queue.ready.filter((entry) => !parkedProducts.has(entry.productId));
      }
    }
    for (const { event, reason } of outcome.parked) {
      // Every entry handed to publish is a committed event: a retry puts it back confirmed.
      await this.park(entries.get(event.outboxId)!, true, reason);
    }
    for (const event of outcome.published) {
      const entry = entries.get(event.outboxId)!;
      markDone(this.queues.get(entry.lane)!, entry.slot, entry._id, confirmationId(entry._id));
    }
    await Promise.all(
      lanes.filter((lane) => this.queues.get(lane)?.ready.length === 0).map((lane) => this.flushDone(lane)),
    );
    return outcome.published.length;
  }

  /** See `purgePublishedEvents`: the retention job, not the publishing path. */
  purgePublished(olderThan: Date): Promise<number> {
    return purgePublishedEvents(this.collections, olderThan);
  }

  async pendingCount(): Promise<number> {
    return this.collections.outbox.countDocuments({ kind: 'event' });
  }

  /** Deletes what it published, then gives the held lanes back at once (see `LaneLeases.release`). */
  async close(): Promise<void> {
    await this.leases.settled();
    for (const lane of [...this.queues.keys()]) await this.flushDone(lane);
    this.queues.clear();
    await this.leases.release();
  }

  /**
   * Reads the outbox of `lanes` (entries and confirmations) in one query, after deleting what was
   * published from them, and queues each lane's publishable entries in sequence order.
   *
   * One query, not one per lane: a relay polls every few milliseconds while events come in, and with
   * a query per lane the empty polls alone cost FerretDB eight scans each. The outbox is small (entries
   * leave it once published), so reading every held lane at once costs about what reading one did.
   */
  private async loadLanes(lanes: number[]): Promise<void> {
    await Promise.all(lanes.map(async (lane) => this.flushDone(lane)));
    // With every lane held the filter is left out: `$in` is evaluated in Go on FerretDB anyway.
    const filter = lanes.length === this.lanes ? {} : { lane: { $in: lanes } };
    const documents = await this.collections.outbox.find(filter).toArray();
    // The dead letters (usually none) are read after the outbox: an entry a retry moved back is then
    // seen with its dead letter (it waits) or without it (its dead letter was gone before the read).
    const parked = await deadLetterCollection(this.db)
      .find({}, { projection: { _id: 1, productId: 1 } })
      .toArray();
    const byLane = new Map<number, OutboxDocument[]>(lanes.map((lane) => [lane, []]));
    for (const document of documents) byLane.get(document.lane)?.push(document);
    const parkedIds = new Set(parked.map((letter) => letter._id));
    const parkedProducts = new Set(parked.map((letter) => letter.productId));
    for (const [lane, laneDocuments] of byLane) {
      await this.queueLane(lane, laneDocuments, { ids: parkedIds, products: parkedProducts });
    }
  }

  /**
   * Queues a lane's publishable entries, given its outbox documents and the dead letters; resolves
   * stale unconfirmed ones; parks the ones it cannot read or complete. A product with a dead letter
   * publishes nothing more until the dead letter is retried or skipped.
   */
  private async queueLane(
    lane: number,
    documents: OutboxDocument[],
    parked: { ids: Set<string>; products: Set<string> },
  ): Promise<void> {
    const queue: LaneQueue = { ready: [], done: new Map() };
    this.queues.set(lane, queue);
    const entries: OutboxEntryDocument[] = [];
    const confirmed = new Set<string>();
    for (const document of documents) {
      if (document.kind === 'event') entries.push(document);
      else confirmed.add(document.eventId);
    }
    const entryIds = new Set(entries.map((entry) => entry._id));
    for (const document of documents) {
      // A confirmation whose entry is gone: its writer confirmed after the relay resolved the entry.
      if (document.kind === 'confirmation' && !entryIds.has(document.eventId)) {
        markDone(queue, document.slot, document._id);
      }
    }
    const heldBack = new Set(parked.products);
    const readable: OutboxEntryDocument[] = [];
    for (const entry of entries) {
      const problem = unreadable(entry);
      if (problem === undefined) readable.push(entry);
      else if (!parked.ids.has(entry._id)) {
        heldBack.add(String(entry.productId));
        await this.park(entry, confirmed.has(entry._id), `cannot read the outbox entry: ${problem}`);
      }
    }
    readable.sort((a, b) => a.sequence - b.sequence || (a._id < b._id ? -1 : 1));
    for (const entry of readable) {
      if (heldBack.has(entry.productId) || parked.ids.has(entry._id)) {
        heldBack.add(entry.productId);
        continue;
      }
      const verdict = confirmed.has(entry._id) ? 'publish' : await this.unconfirmed.decide(entry);
      if (verdict === 'publish') queue.ready.push(entry);
      else if (verdict === 'drop') markDone(queue, entry.slot, entry._id, confirmationId(entry._id));
      else heldBack.add(entry.productId); // later events of this product wait for it
    }
  }

  /**
   * Moves an entry to the dead letters, then deletes it (and its confirmation) from the outbox; a
   * crash in between leaves it in both, which counts as parked.
   */
  private async park(entry: OutboxEntryDocument, confirmed: boolean, reason: string): Promise<void> {
    await parkEntry(this.db, {
      _id: entry._id,
      productId: String(entry.productId),
      lane: entry.lane,
      topic: this.topic,
      entry,
      confirmed,
      reason,
      parkedAt: this.clock.now(),
    });
    this.logger?.error({ outboxId: entry._id, productId: entry.productId, reason }, 'outbox entry parked');
    await this.collections.outbox.deleteMany({ _id: { $in: [entry._id, confirmationId(entry._id)] } });
  }

  /** Deletes a lane's published entries and their confirmations, one slot (and chunk) per delete. */
  private async flushDone(lane: number): Promise<void> {
    const queue = this.queues.get(lane);
    if (!queue || queue.done.size === 0) return;
    const groups = [...queue.done];
    queue.done = new Map();
    await Promise.all(
      groups.map(async ([slot, ids]) => {
        for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
          await this.collections.outbox.deleteMany({
            lane,
            slot,
            _id: { $in: ids.slice(i, i + DELETE_CHUNK) },
          });
        }
      }),
    );
  }
}
