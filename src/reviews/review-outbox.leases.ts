import type { Clock } from '../shared/clock.js';
import type { LeaseDocument, ReviewCollections } from './review.model.js';
import { isDuplicateKey } from './review.repository.js';

export interface LaneLeasesOptions {
  lanes: number;
  /** How long a lease lasts without renewal; it is renewed at a third of it. */
  leaseMs: number;
  /** Most lanes held at once; fewer lets several relays share the work. */
  maxLanes: number;
  /** Identifies this relay in lease documents. */
  owner: string;
  clock: Clock;
}

interface HeldLease {
  generation: number;
  expiresAt: number;
}

/** How many generations behind the newest a lane keeps before deleting older ones. */
const GENERATIONS_KEPT = 4;

/**
 * One relay's leases on the reviews outbox lanes. FerretDB updates are read-then-overwrite without a
 * lock, so a compare-and-set on a lease could be won by two relays: exclusion rests on unique inserts
 * only. A lease is a document `{lane, generation}` unique on both; taking or renewing lane L means
 * inserting generation g+1 after reading g, which exactly one relay can do, and only once g expired
 * (or g is its own). A lane is used only while its generation is the newest seen and unexpired, so a
 * relay that stalled and re-inserted an old generation gives the lane up at its next check. Expiry
 * compares clocks of different hosts: they must agree to well within `leaseMs`.
 */
export class LaneLeases {
  private readonly held = new Map<number, HeldLease>();
  private lastCheck = 0;
  private refreshing: Promise<number[]> | undefined;

  constructor(
    private readonly collections: ReviewCollections,
    private readonly options: LaneLeasesOptions,
  ) {}

  /** Lanes held right now, unexpired. */
  heldLanes(): number[] {
    const now = this.options.clock.now().getTime();
    return [...this.held].filter(([, lease]) => lease.expiresAt > now).map(([lane]) => lane);
  }

  /**
   * Takes free or expired lanes, renews held ones at a third of their lease, drops lanes where a newer
   * generation exists. One read of the (small) lease collection per check; checks happen at most every
   * sixth of a lease. @returns the lanes usable for the next batch.
   */
  refresh(): Promise<number[]> {
    // One lease check at a time per relay, or two of its own inserts could race each other.
    this.refreshing ??= this.check().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Waits for a lease check in flight (its failure is the next batch's to report). */
  async settled(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
  }

  /**
   * Gives the held lanes back at once: for each, inserts the next generation already expired (a unique
   * insert like any other, so generations stay monotonic and the next relay takes the lane at its next
   * check instead of waiting for the lease to run out).
   */
  async release(): Promise<void> {
    const held = [...this.held];
    this.held.clear();
    const now = this.options.clock.now();
    for (const [lane, lease] of held) {
      await this.collections.leases
        .insertOne({
          _id: `${lane}:${lease.generation + 1}`,
          lane,
          generation: lease.generation + 1,
          owner: this.options.owner,
          expiresAt: now,
        })
        .catch((error: unknown) => {
          if (!isDuplicateKey(error)) throw error; // someone already took the next generation
        });
    }
  }

  private async check(): Promise<number[]> {
    const { lanes, leaseMs, maxLanes, owner } = this.options;
    const now = this.options.clock.now().getTime();
    if (now - this.lastCheck < leaseMs / 6 && this.held.size > 0) return this.heldLanes();
    this.lastCheck = now;
    const newest = new Map<number, LeaseDocument>();
    for (const lease of await this.collections.leases.find({}).toArray()) {
      const seen = newest.get(lease.lane);
      if (!seen || lease.generation > seen.generation) newest.set(lease.lane, lease);
    }
    for (let lane = 0; lane < lanes; lane++) {
      const top = newest.get(lane);
      const mine = this.held.get(lane);
      if (mine && (!top || top.generation !== mine.generation || top.owner !== owner)) {
        this.held.delete(lane); // someone took a newer generation: give the lane up
      }
      if (!this.held.has(lane) && top && top.owner === owner && top.expiresAt.getTime() > now) {
        this.held.set(lane, { generation: top.generation, expiresAt: top.expiresAt.getTime() });
      }
      const holding = this.held.get(lane);
      if (holding) {
        if (holding.expiresAt - now < (leaseMs * 2) / 3) await this.insert(lane, holding.generation + 1, now);
        continue;
      }
      if (this.held.size >= maxLanes) continue;
      if (top && top.expiresAt.getTime() > now) continue; // another relay's live lease
      await this.insert(lane, (top?.generation ?? 0) + 1, now);
    }
    return this.heldLanes();
  }

  private async insert(lane: number, generation: number, now: number): Promise<void> {
    const expiresAt = now + this.options.leaseMs;
    try {
      await this.collections.leases.insertOne({
        _id: `${lane}:${generation}`,
        lane,
        generation,
        owner: this.options.owner,
        expiresAt: new Date(expiresAt),
      });
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      this.held.delete(lane); // another relay took this generation first
      return;
    }
    this.held.set(lane, { generation, expiresAt });
    await this.collections.leases.deleteMany({ lane, generation: { $lt: generation - GENERATIONS_KEPT } });
  }
}
