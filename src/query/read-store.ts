import type pg from 'pg';
import { isLocusError } from '../shared/errors.js';
import { isAvailabilityError } from './availability.js';
import { BackendPolicy, databaseClassifier, type ResilienceOptions } from './backend.policy.js';
import { Deadline, deadlineExceeded } from './deadline.js';
import { finishSnapshot, openFreshSnapshot, openSnapshot } from './replica.snapshot.js';
import {
  freshnessOf,
  heavyRefusal,
  primaryWalPosition,
  probeReplica,
  walBytesAhead,
  type PrimaryComparison,
  type ReplicaProbe,
  type ReplicaFreshness,
  type ReplicaStatus,
} from './replica.freshness.js';

/** The read primary's WAL position, or why it is not known. */
export type PrimaryPosition = { lsn: string } | { unknown: string };

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Which copy of the read store answered, for the `Locus-Backend` header. */
export type ReadBackend = 'replica' | 'primary';

export interface ReadStoreOptions {
  replica: pg.Pool;
  primary: pg.Pool;
  resilience: ResilienceOptions;
  /** Heavy queries refuse a replica further behind than this (LOCUS_MAX_REPLICA_LAG_MS). */
  maxReplicaLagMs: number;
  /**
   * How long a freshness reading is reused for light reads and /health before the replica is probed
   * again; heavy answers take their own with their snapshot (inFreshSnapshot).
   */
  lagCacheMs?: number;
  /**
   * The server's statement timeout (LOCUS_QUERY_STATEMENT_TIMEOUT_MS): a request's deadline may
   * shorten a statement's timeout, never lengthen it past this.
   */
  statementTimeoutMs: number;
}

/**
 * The two copies of the read store with a breaker each. Heavy queries run only on the replica
 * (`onReplica`); light point reads may fall back to the read primary (`pointRead`).
 */
export class ReadStore {
  readonly replicaPolicy: BackendPolicy;
  readonly primaryPolicy: BackendPolicy;
  private freshness: ReplicaFreshness | undefined;
  private status: ReplicaStatus | undefined;
  /** When the replica was last seen to have replayed all the primary had written (performance.now()). */
  private lastCurrentAt: number | undefined;
  private freshnessInFlight: Promise<ReplicaFreshness> | undefined;

  constructor(readonly options: ReadStoreOptions) {
    this.replicaPolicy = new BackendPolicy(
      'replica',
      options.resilience,
      databaseClassifier('LOCUS_REPLICA_UNAVAILABLE'),
    );
    this.primaryPolicy = new BackendPolicy(
      'primary',
      options.resilience,
      databaseClassifier('LOCUS_BACKEND_UNAVAILABLE'),
    );
  }

  get replica(): pg.Pool {
    return this.options.replica;
  }

  get primary(): pg.Pool {
    return this.options.primary;
  }

  /**
   * The last freshness reading and what the replica was then ('unreachable' when the last probe
   * failed), without probing (for response headers and /health).
   */
  lastReading(): { status: ReplicaStatus | undefined; freshness: ReplicaFreshness | undefined } {
    return { status: this.status, freshness: this.status === 'unreachable' ? undefined : this.freshness };
  }

  /**
   * What the replica really is and how far behind the read primary its data is at most: one probe on
   * the replica (recovery, WAL receiver, replay position and time), then, for a streaming standby, the
   * primary's WAL position to compare with (a cheap call; no heavy query ever runs there). Cached for
   * `lagCacheMs`; concurrent callers share one probe. The replica is probed first, so a replica that
   * does not answer fails before the primary is asked anything.
   * @throws LocusError from the replica's policy when the replica is down or its breaker is open.
   */
  async replicaFreshness(deadline: Deadline): Promise<ReplicaFreshness> {
    const cacheMs = this.options.lagCacheMs ?? 250;
    const cached = this.freshness;
    if (this.status !== 'unreachable' && cached && performance.now() - cached.measuredAt < cacheMs) {
      return cached;
    }
    // A probe under a client's own short deadline is that client's alone: shared, its timeout would
    // fail every request waiting on it.
    if (deadline.shortenedByClient) return this.recordFreshness(this.measureFreshness(deadline), deadline);
    this.freshnessInFlight ??= this.recordFreshness(this.measureFreshness(deadline), deadline).finally(
      () => (this.freshnessInFlight = undefined),
    );
    return this.freshnessInFlight;
  }

  /** A failed probe marks the replica unreachable (its reading is kept by concludeReading). */
  private recordFreshness(probe: Promise<ReplicaFreshness>, deadline: Deadline): Promise<ReplicaFreshness> {
    return probe.catch((error: unknown) => {
      this.probeFailed(deadline);
      throw error;
    });
  }

  private async measureFreshness(deadline: Deadline): Promise<ReplicaFreshness> {
    const startedAt = performance.now();
    const probe = await this.replicaPolicy.execute(deadline, 'probing the replica', () =>
      probeReplica(this.options.replica),
    );
    const streaming = probe.inRecovery && probe.receiverStatus === 'streaming' && probe.replayLsn !== null;
    const position = streaming ? await this.readPrimaryPosition(deadline) : undefined;
    return this.concludeReading(probe, position, startedAt, deadline);
  }

  /**
   * The read primary's WAL position, to compare with the replica's, in half the time left at most: a
   * primary that hangs leaves the replica time to answer. A primary that fails gives an unknown
   * position, except when the client's own short deadline ran out (not a reading to show everyone).
   * @throws LocusError LOCUS_DEADLINE_EXCEEDED only in that last case.
   */
  readPrimaryPosition(deadline: Deadline): Promise<PrimaryPosition> {
    const budget = new Deadline(Math.max(1, Math.floor(deadline.remaining() / 2)), {
      shortenedByClient: deadline.shortenedByClient,
    });
    const what = 'reading the primary WAL position';
    return this.primaryPolicy
      .execute(budget, what, () => primaryWalPosition(this.options.primary))
      .then(
        (lsn): PrimaryPosition => ({ lsn }),
        (error: unknown): PrimaryPosition => {
          // The policy's timer may fire a hair before the budget reads expired (libuv starts timers
          // from the loop's cached clock): its own deadline error says the same.
          const ranOut = budget.expired || (isLocusError(error) && error.code === 'LOCUS_DEADLINE_EXCEEDED');
          if (deadline.shortenedByClient && ranOut) throw deadlineExceeded(deadline, what, error);
          return { unknown: 'the read primary did not report its WAL position' };
        },
      );
  }

  /**
   * The reading a replica probe and the primary's position (read no earlier than `startedAt`) make;
   * kept for the headers and /health, except an unknown lag under a client's own short deadline: that
   * may be the deadline's doing, so it is that request's alone.
   */
  concludeReading(
    probe: ReplicaProbe,
    position: PrimaryPosition | undefined,
    startedAt: number,
    deadline: Deadline,
  ): ReplicaFreshness {
    let primary: PrimaryComparison | undefined;
    if (position && probe.replayLsn !== null) {
      primary = 'lsn' in position ? { bytesAhead: walBytesAhead(position.lsn, probe.replayLsn) } : position;
    }
    const reading = freshnessOf(probe, primary, performance.now(), this.lastCurrentAt);
    if (reading.lagMs === 0) this.lastCurrentAt = startedAt;
    if (!(deadline.shortenedByClient && reading.lagMs === null)) {
      this.freshness = reading;
      this.status = reading.status;
    }
    return reading;
  }

  /** Marks the replica unreachable after a failed probe, unless the client's own deadline caused it. */
  probeFailed(deadline: Deadline): void {
    if (!(deadline.shortenedByClient && deadline.expired)) this.status = 'unreachable';
  }

  /** Runs a query on the replica under its breaker, retries and the deadline. */
  onReplica<T>(deadline: Deadline, what: string, fn: (db: pg.Pool) => Promise<T>): Promise<T> {
    return this.replicaPolicy.execute(deadline, what, () => fn(this.options.replica));
  }

  onPrimary<T>(deadline: Deadline, what: string, fn: (db: pg.Pool) => Promise<T>): Promise<T> {
    return this.primaryPolicy.execute(deadline, what, () => fn(this.options.primary));
  }

  /**
   * A light read: on the replica when it is fit for heavy queries, or a streaming standby whose lag
   * cannot be measured (the primary did not answer); otherwise on the read primary. When the primary
   * fails too, the replica answers if it can, its staleness then flagged by the headers. Errors that
   * are not about availability (bad input, not found) are not masked by a fallback.
   */
  async pointRead<T>(
    deadline: Deadline,
    what: string,
    fn: (db: Queryable) => Promise<T>,
  ): Promise<{ value: T; backend: ReadBackend }> {
    const reading = await this.replicaFreshness(deadline).catch((error: unknown) => {
      if (!isAvailabilityError(error) || deadline.expired) throw error;
      return undefined;
    });
    const replicaFirst =
      reading !== undefined &&
      (heavyRefusal(reading, this.options.maxReplicaLagMs) === undefined ||
        (reading.status === 'streaming' && reading.lagMs === null));
    if (replicaFirst) {
      try {
        return { value: await this.onReplica(deadline, what, fn), backend: 'replica' };
      } catch (error) {
        if (!isAvailabilityError(error) || deadline.expired) throw error;
      }
    }
    try {
      return { value: await this.onPrimary(deadline, what, fn), backend: 'primary' };
    } catch (error) {
      if (replicaFirst || reading === undefined || !isAvailabilityError(error) || deadline.expired) {
        throw error;
      }
      return { value: await this.onReplica(deadline, what, fn), backend: 'replica' };
    }
  }

  /**
   * The statement_timeout, in whole ms, for a statement run within `deadline`: the time it has left, at
   * most `limitMs` (by default the server's statement timeout), at least 1 ms.
   */
  statementTimeoutWithin(deadline: Deadline, limitMs = this.options.statementTimeoutMs): number {
    return Math.max(1, Math.floor(Math.min(deadline.remaining(), limitMs)));
  }

  /**
   * Runs `fn` in a read-only REPEATABLE READ transaction on one replica connection whose
   * statement_timeout is the deadline's remaining time capped at the server's statement timeout, so
   * the server stops the work at the deadline and no client can lengthen it. The whole call is under
   * the replica's breaker and retried on recovery conflicts while time allows. Checks no freshness:
   * `inFreshSnapshot` does.
   */
  inReplicaSnapshot<T>(
    deadline: Deadline,
    what: string,
    fn: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    return this.inSnapshot(deadline, what, fn, (client) =>
      openSnapshot(client, this.statementTimeoutWithin(deadline)),
    );
  }

  /**
   * `inReplicaSnapshot` for a heavy answer: the replica's freshness is read in the round trip that
   * opens the snapshot (see openFreshSnapshot), and `fn` runs only if the replica may serve it.
   * @throws LocusError LOCUS_REPLICA_UNAVAILABLE (not a standby, disconnected, freshness unknown, or
   *   down), LOCUS_CIRCUIT_OPEN or LOCUS_REPLICA_LAGGING (503, Retry-After) — never falls back to the
   *   primary; else as `onReplica`.
   */
  inFreshSnapshot<T>(
    deadline: Deadline,
    what: string,
    fn: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    return this.inSnapshot(deadline, what, fn, (client) =>
      openFreshSnapshot(this, client, deadline, this.statementTimeoutWithin(deadline)).then(() => undefined),
    );
  }

  /** Opens a snapshot with `open` (which releases the client if it fails), runs `fn`, commits behind the answer. */
  private inSnapshot<T>(
    deadline: Deadline,
    what: string,
    fn: (client: pg.PoolClient) => Promise<T>,
    open: (client: pg.PoolClient) => Promise<void>,
  ): Promise<T> {
    return this.onReplica(deadline, what, async () => {
      const client = await this.options.replica.connect();
      await open(client);
      let result: T;
      try {
        result = await fn(client);
      } catch (error) {
        // A connection that failed mid-transaction is discarded rather than reused.
        client.release(error as Error);
        throw error;
      }
      finishSnapshot(client);
      return result;
    });
  }
}
