import type pg from 'pg';
import { LocusError } from '../shared/errors.js';
import { BackendPolicy, databaseClassifier, type ResilienceOptions } from './backend.policy.js';
import { Deadline, deadlineExceeded } from './deadline.js';
import {
  freshnessOf,
  heavyRefusal,
  primaryBytesAhead,
  probeReplica,
  type PrimaryComparison,
  type ReplicaFreshness,
  type ReplicaStatus,
} from './replica.freshness.js';

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Which copy of the read store answered, for the `Locus-Backend` header. */
export type ReadBackend = 'replica' | 'primary';

export interface ReadStoreOptions {
  replica: pg.Pool;
  primary: pg.Pool;
  resilience: ResilienceOptions;
  /** Heavy queries refuse a replica further behind than this (LOCUS_MAX_REPLICA_LAG_MS). */
  maxReplicaLagMs: number;
  /** How long a freshness reading is reused before the replica is probed again. */
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

  /** Keeps a probe's reading for everyone; a failure marks the replica unreachable unless the client's deadline caused it. */
  private recordFreshness(probe: Promise<ReplicaFreshness>, deadline: Deadline): Promise<ReplicaFreshness> {
    return probe.then(
      (reading) => {
        // An unknown lag under a client's own short deadline may be that deadline's doing: kept for
        // that request only, never shown to the others.
        if (!(deadline.shortenedByClient && reading.lagMs === null)) {
          this.freshness = reading;
          this.status = reading.status;
        }
        return reading;
      },
      (error: unknown) => {
        if (!(deadline.shortenedByClient && deadline.expired)) this.status = 'unreachable';
        throw error;
      },
    );
  }

  private async measureFreshness(deadline: Deadline): Promise<ReplicaFreshness> {
    const startedAt = performance.now();
    const probe = await this.replicaPolicy.execute(deadline, 'probing the replica', () =>
      probeReplica(this.options.replica),
    );
    let primary: PrimaryComparison | undefined;
    if (probe.inRecovery && probe.receiverStatus === 'streaming' && probe.replayLsn !== null) {
      const replayLsn = probe.replayLsn;
      // Half the time left at most: a primary that hangs leaves the replica time to answer a light read.
      const budget = new Deadline(Math.max(1, Math.floor(deadline.remaining() / 2)), {
        shortenedByClient: deadline.shortenedByClient,
      });
      primary = await this.primaryPolicy
        .execute(budget, 'reading the primary WAL position', () =>
          primaryBytesAhead(this.options.primary, replayLsn),
        )
        .then(
          (bytesAhead): PrimaryComparison => ({ bytesAhead }),
          (error: unknown): PrimaryComparison => {
            // Out of the client's own time: not a reading to keep and show everyone as "unknown".
            if (deadline.shortenedByClient && budget.expired) {
              throw deadlineExceeded(deadline, 'reading the primary WAL position', error);
            }
            return { unknown: 'the read primary did not report its WAL position' };
          },
        );
    }
    const reading = freshnessOf(probe, primary, performance.now(), this.lastCurrentAt);
    if (reading.lagMs === 0) this.lastCurrentAt = startedAt;
    return reading;
  }

  /**
   * Checks the replica may serve a heavy query: reachable, breaker closed, a streaming standby, and its
   * lag known and within bound.
   * @throws LocusError LOCUS_REPLICA_UNAVAILABLE (not a standby, disconnected, freshness unknown, or
   *   down), LOCUS_CIRCUIT_OPEN or LOCUS_REPLICA_LAGGING (503, Retry-After) — never falls back to the
   *   primary.
   */
  async requireFreshReplica(deadline: Deadline): Promise<ReplicaFreshness> {
    const reading = await this.replicaFreshness(deadline);
    const refusal = heavyRefusal(reading, this.options.maxReplicaLagMs);
    if (refusal) throw refusal;
    return reading;
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
   * The statement_timeout for a statement run within `deadline`: the time it has left, at most
   * `limitMs` (by default the server's statement timeout), at least 1 ms.
   */
  statementTimeoutWithin(deadline: Deadline, limitMs = this.options.statementTimeoutMs): string {
    return String(Math.max(1, Math.min(deadline.remaining(), limitMs)));
  }

  /**
   * Runs `fn` in a read-only REPEATABLE READ transaction on one replica connection whose
   * statement_timeout is the deadline's remaining time capped at the server's statement timeout, so
   * the server stops the work at the deadline and no client can lengthen it.
   * The whole call is under the replica's breaker and retried on recovery conflicts while time allows.
   */
  inReplicaSnapshot<T>(
    deadline: Deadline,
    what: string,
    fn: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    return this.onReplica(deadline, what, async () => {
      const client = await this.options.replica.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await client.query("SELECT set_config('statement_timeout', $1, true)", [
          this.statementTimeoutWithin(deadline),
        ]);
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        broken = error as Error;
        throw error;
      } finally {
        // A connection that failed mid-transaction is discarded rather than reused.
        client.release(broken);
      }
    });
  }
}

function isAvailabilityError(error: unknown): boolean {
  return (
    error instanceof LocusError &&
    [
      'LOCUS_REPLICA_UNAVAILABLE',
      'LOCUS_REPLICA_LAGGING',
      'LOCUS_CIRCUIT_OPEN',
      'LOCUS_BACKEND_UNAVAILABLE',
    ].includes(error.code)
  );
}
