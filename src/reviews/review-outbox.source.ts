import { randomUUID } from 'node:crypto';
import { MongoServerError, type Db } from 'mongodb';
import type { EventEnvelope } from '../contracts/envelope.js';
import { topicNames } from '../contracts/topics.js';
import type { OutboxSource, PendingEvent, Publish } from '../relay/outbox-source.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { isLocusError, LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { deadLetterCollection, parkEntry, ReviewOutboxDeadLetters } from './review-outbox.dead-letters.js';
import {
  confirmationId,
  DEFAULT_LANES,
  eventOfOutboxEntry,
  reviewCollections,
  type LeaseDocument,
  type OutboxDocument,
  type OutboxEntryDocument,
  type ReviewCollections,
} from './review.model.js';
import { decideOutcome, isDuplicateKey, loadCurrent } from './review.repository.js';

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

interface HeldLease {
  generation: number;
  expiresAt: number;
}

/** A held lane's share of the outbox as this relay last read it. */
interface LaneQueue {
  /** Publishable entries in sequence order, not yet handed to `publish`. */
  ready: OutboxEntryDocument[];
  /** Published (or dropped) entries and their confirmations still to delete, by slot. */
  done: Map<number, string[]>;
}

/** Most ids in one `$in` of a delete (FerretDB compares each row with each id, in Go). */
const DELETE_CHUNK = 1_000;

/**
 * Polls in a row in which the store refused to complete one unconfirmed entry, while answering every
 * other query, before the relay parks it: enough to ride out a blip, few enough that one poison entry
 * holds back only its own product, and only for a moment.
 */
const PARK_AFTER_REFUSALS = 3;

/**
 * The reviews store's outbox (`review_outbox`, see review.model.ts) for the relay.
 *
 * Polling: FerretDB has no change streams, so `waitForWork` sleeps a short interval.
 *
 * Cost on FerretDB v1 (its PostgreSQL backend pushes down only equality on top-level scalars, as
 * `_jsonb->'f' @> v`, which no btree index serves: every query is a sequential scan of its table, and
 * `$in`, ranges and sorts run in Go over what SQL returned): the relay therefore never queries
 * `review_events` (which grows with history) on the happy path. It reads the small outbox of its
 * drained lanes in one query, sorts in memory and publishes that snapshot in batches; it
 * marks published entries by deleting them with `{lane, slot, _id: {$in}}` once the snapshot is
 * drained, so SQL hands Go only that slot's rows. Reads and deletes cost O(outbox) per snapshot,
 * amortized over the snapshot's events; nothing is updated in place.
 *
 * Per-key order with several relays: events are spread over lanes by product id (the Kafka key). A
 * relay publishes a lane only while it holds that lane's lease, and within a snapshot in `sequence`
 * order, which for one review is version order (see review.model.ts `nextSequence`). Writers insert
 * the entry of version v+1 only after version v's event, hence after v's entry: a snapshot that holds
 * v+1 also holds v unless v is already published.
 *
 * Commit point and crashes: the writer inserts the entry, then the event (the commit point), updates
 * the review document, then inserts a confirmation. A confirmed entry is published as it is. An
 * unconfirmed one (the writer is in flight, lost the version race, or crashed) holds back its product
 * until it is `resolveAfterMs` old; then the relay looks the version up in `review_events`: the same
 * event → committed, the document is repaired, publish; another event → a loser's leftover, drop;
 * none → roll the commit forward by inserting the event itself (unless the review document is
 * already past that version: then the winner was published and purged, drop; or its writer, still
 * alive, cancelled it before answering its client 5xx: `decideOutcome`, one unique insert, says which
 * of the writer and the relay came first, and the relay drops a cancelled entry). A stalled writer
 * that wakes up then finds its own event and reports success.
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
 * The residual risk is a batch outliving its lease (Kafka stalled longer than `leaseMs`), or a relay
 * losing a lane between publishing and deleting: the next holder re-sends those events. Consumers
 * ignore versions they have applied, so that is a duplicate (same CloudEvents id and aggregate
 * version), never a lost or regressed state.
 *
 * At-least-once: entries are deleted only after `publish` resolves; a crash in between re-sends them.
 * Every published event is reflected in the `reviews` collection (confirmed, or repaired before
 * publishing), so purging events loses no state.
 *
 * Relay dead letters (review-outbox.dead-letters.ts): an entry that cannot be read, one the store
 * keeps refusing to complete (its event cannot be stored, e.g. a U+0000 FerretDB's jsonb rejects), or
 * one `publish` reports as unpublishable is moved to `relay_dead_letters`; while a product has a dead
 * letter its later entries stay in the outbox, unpublished, and every other product flows.
 */
export class ReviewOutboxSource implements OutboxSource {
  readonly name: string;
  private readonly collections: ReviewCollections;
  private readonly topic: string;
  readonly pollIntervalMs: number;
  private readonly lanes: number;
  private readonly leaseMs: number;
  private readonly maxLanes: number;
  private readonly resolveAfterMs: number;
  private readonly owner: string;
  private readonly clock: Clock;
  private readonly held = new Map<number, HeldLease>();
  private readonly queues = new Map<number, LaneQueue>();
  private lastLeaseCheck = 0;
  private refreshing: Promise<number[]> | undefined;
  /** Unconfirmed entries the store refused to complete, by id: how many polls in a row. */
  private readonly refusals = new Map<string, number>();
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
    this.leaseMs = options.leaseMs ?? 10_000;
    this.maxLanes = options.maxLanes ?? this.lanes;
    this.resolveAfterMs = options.resolveAfterMs ?? 5_000;
    this.owner = options.owner ?? randomUUID();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.deadLetters = new ReviewOutboxDeadLetters(db, this.name);
    options.logger?.debug({ owner: this.owner, lanes: this.lanes }, 'review outbox source ready');
  }

  /** Lanes this relay holds right now (for tests and status). */
  heldLanes(): number[] {
    const now = this.clock.now().getTime();
    return [...this.held].filter(([, lease]) => lease.expiresAt > now).map(([lane]) => lane);
  }

  async publishBatch(limit: number, publish: Publish): Promise<number> {
    const lanes = await this.refreshLeases();
    for (const lane of [...this.queues.keys()]) {
      if (lanes.includes(lane)) continue;
      // Lost the lane: deleting what was published is still right; the rest is the new holder's.
      await this.flushDone(lane);
      this.queues.delete(lane);
    }
    if (lanes.length === 0) return 0;
    const empty = lanes.filter((lane) => (this.queues.get(lane)?.ready.length ?? 0) === 0);
    if (empty.length > 0) await this.loadLanes(empty);

    const batch = this.takeBatch(lanes, limit);
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

  /**
   * Deletes events recorded before `olderThan` that are no longer in the outbox. Race-free without
   * transactions: the candidates are read first; each one's outbox entry was inserted before its
   * event, hence before that read, so the outbox read that follows sees it unless it was published.
   * A published event's state is already in the review document (confirmed or repaired before
   * publishing) and writers take the newer of the document and the newest event as their start.
   * On FerretDB the candidate read runs in Go over all events (no range pushdown): it is the periodic
   * retention job, not the publishing path.
   */
  async purgePublished(olderThan: Date): Promise<number> {
    const { events, outbox } = this.collections;
    const candidates = await events
      .find({ recordedAt: { $lt: olderThan } }, { projection: { _id: 1, lane: 1, slot: 1 } })
      .toArray();
    if (candidates.length === 0) return 0;
    const pending = new Set(
      (await outbox.find({ kind: 'event' }, { projection: { _id: 1 } }).toArray()).map((entry) => entry._id),
    );
    const bySlot = new Map<string, { lane: number; slot: number; ids: string[] }>();
    for (const event of candidates) {
      if (pending.has(event._id)) continue;
      const key = `${event.lane}:${event.slot}`;
      const group = bySlot.get(key) ?? { lane: event.lane, slot: event.slot, ids: [] };
      group.ids.push(event._id);
      bySlot.set(key, group);
    }
    let deleted = 0;
    for (const { lane, slot, ids } of bySlot.values()) {
      for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
        const chunk = ids.slice(i, i + DELETE_CHUNK);
        deleted += (await events.deleteMany({ lane, slot, _id: { $in: chunk } })).deletedCount;
      }
    }
    return deleted;
  }

  async pendingCount(): Promise<number> {
    return this.collections.outbox.countDocuments({ kind: 'event' });
  }

  /**
   * Deletes what it published, then gives the held lanes back at once: for each, inserts the next
   * generation already expired (a unique insert like any other, so generations stay monotonic and the
   * next relay takes the lane at its next check instead of waiting for the lease to run out).
   */
  async close(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
    for (const lane of [...this.queues.keys()]) await this.flushDone(lane);
    this.queues.clear();
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
   * Up to `limit` entries from the heads of the lanes' queues, lowest sequence first (each lane's
   * queue is in sequence order, so each lane contributes a prefix of its queue).
   */
  private takeBatch(lanes: number[], limit: number): OutboxEntryDocument[] {
    const heads = new Map(lanes.map((lane) => [lane, 0]));
    const batch: OutboxEntryDocument[] = [];
    while (batch.length < limit) {
      let best: { lane: number; entry: OutboxEntryDocument } | undefined;
      for (const [lane, index] of heads) {
        const entry = this.queues.get(lane)?.ready[index];
        if (entry && (!best || entry.sequence < best.entry.sequence)) best = { lane, entry };
      }
      if (!best) break;
      batch.push(best.entry);
      heads.set(best.lane, heads.get(best.lane)! + 1);
    }
    return batch;
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
    const now = this.clock.now().getTime();
    for (const entry of readable) {
      if (heldBack.has(entry.productId) || parked.ids.has(entry._id)) {
        heldBack.add(entry.productId);
        continue;
      }
      let verdict: 'publish' | 'drop' | 'wait' | 'parked' = 'publish';
      if (!confirmed.has(entry._id)) {
        verdict =
          now - entry.recordedAt.getTime() < this.resolveAfterMs ? 'wait' : await this.resolveOrPark(entry);
      }
      if (verdict === 'publish') queue.ready.push(entry);
      else if (verdict === 'drop') markDone(queue, entry.slot, entry._id, confirmationId(entry._id));
      else heldBack.add(entry.productId); // later events of this product wait for it
    }
  }

  /**
   * `resolve`, except that an entry the store refuses to complete (it answers every other query) poll
   * after poll is parked instead of failing every batch: the same input fails the same way, so
   * retrying it is no cure. Store outages (network errors, retryable server errors) still throw.
   */
  private async resolveOrPark(entry: OutboxEntryDocument): Promise<'publish' | 'drop' | 'wait' | 'parked'> {
    try {
      const verdict = await this.resolve(entry);
      this.refusals.delete(entry._id);
      return verdict;
    } catch (error) {
      if (!refusedByStore(error)) throw error;
      const refusals = (this.refusals.get(entry._id) ?? 0) + 1;
      const reason = `cannot complete the unconfirmed outbox entry: ${(error as Error).message}`;
      if (refusals < PARK_AFTER_REFUSALS) {
        this.refusals.set(entry._id, refusals);
        this.logger?.warn(
          { outboxId: entry._id, refusals, reason },
          'outbox entry refused; its product waits',
        );
        return 'wait';
      }
      this.refusals.delete(entry._id);
      await this.park(entry, false, reason);
      return 'parked';
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

  /**
   * Decides an unconfirmed entry whose writer is presumed dead (see the class comment); repairs the
   * review document before anything is published.
   */
  private async resolve(entry: OutboxEntryDocument): Promise<'publish' | 'drop'> {
    const { events, reviews } = this.collections;
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await events.findOne({ reviewId: entry.reviewId, version: entry.version });
      if (existing) {
        if (existing._id !== entry._id) return 'drop';
        await loadCurrent(this.db, entry.reviewId);
        return 'publish';
      }
      const document = await reviews.findOne({ _id: entry.reviewId }, { projection: { version: 1 } });
      if (document && document.version >= entry.version) return 'drop';
      // The writer may live and have told its client the write failed: one unique insert decides.
      const outcome = await decideOutcome(this.db, entry._id, 'completed', this.clock.now());
      if (outcome === 'cancelled') return 'drop';
      try {
        await events.insertOne(eventOfOutboxEntry(entry)); // roll the dead writer's commit forward
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        continue; // someone committed this version meanwhile: look again
      }
      await loadCurrent(this.db, entry.reviewId);
      return 'publish';
    }
    throw new LocusError(
      'LOCUS_CONFLICT',
      `cannot resolve outbox entry ${entry._id} of review ${entry.reviewId}: its version keeps changing`,
    );
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
}

/** Queues outbox documents of one slot for deletion. */
function markDone(queue: LaneQueue, slot: number, ...ids: string[]): void {
  const group = queue.done.get(slot) ?? [];
  group.push(...ids);
  queue.done.set(slot, group);
}

/** Why an outbox entry cannot be published as it is, or undefined when it can. */
function unreadable(entry: OutboxEntryDocument): string | undefined {
  const fields = entry as Partial<Record<keyof OutboxEntryDocument, unknown>>;
  for (const name of ['_id', 'productId', 'reviewId', 'envelope'] as const) {
    if (typeof fields[name] !== 'string') return `${name} is not a string`;
  }
  for (const name of ['lane', 'slot', 'sequence', 'version'] as const) {
    if (typeof fields[name] !== 'number' || !Number.isFinite(fields[name])) return `${name} is not a number`;
  }
  if (!(fields.recordedAt instanceof Date)) return 'recordedAt is not a date';
  try {
    const envelope = JSON.parse(entry.envelope) as unknown;
    if (typeof envelope !== 'object' || envelope === null) return 'the envelope is not a JSON object';
  } catch (error) {
    return `the envelope is not JSON: ${(error as Error).message}`;
  }
  return undefined;
}

/**
 * The store answered and refused this write (not a network error, not one it labels retryable), or
 * the entry's version kept changing under the resolver: a property of the entry, not an outage.
 */
function refusedByStore(error: unknown): boolean {
  if (isLocusError(error)) return true;
  return error instanceof MongoServerError && !error.hasErrorLabel('RetryableWriteError');
}
