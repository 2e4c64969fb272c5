import type pg from 'pg';
import { LocusError } from '../shared/errors.js';
import { BackendPolicy, databaseClassifier, type ResilienceOptions } from './backend.policy.js';
import type { Deadline } from './deadline.js';

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Which copy of the read store answered, for the `Locus-Backend` header. */
export type ReadBackend = 'replica' | 'primary';

export interface ReadStoreOptions {
  replica: pg.Pool;
  primary: pg.Pool;
  resilience: ResilienceOptions;
  /** Heavy queries refuse a replica further behind than this (LOCUS_MAX_REPLICA_LAG_MS). */
  maxReplicaLagMs: number;
  /** How long a measured lag is reused before it is measured again. */
  lagCacheMs?: number;
}

export interface LagReading {
  replicaLagMs: number | null;
  /** Age of the projector's newest commit as the replica shows it; null before its first commit. */
  projectorCommitAgeMs: number | null;
  measuredAt: number;
}

/**
 * The two copies of the read store with a breaker each. Heavy queries run only on the replica
 * (`onReplica`); light point reads may fall back to the read primary (`pointRead`).
 */
export class ReadStore {
  readonly replicaPolicy: BackendPolicy;
  readonly primaryPolicy: BackendPolicy;
  private lag: LagReading | undefined;
  private lagInFlight: Promise<LagReading> | undefined;

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

  /** The last lag reading, without measuring (for response headers). */
  lastLag(): LagReading | undefined {
    return this.lag;
  }

  /**
   * The replica's replay lag: 0 when it has replayed all it received, else the age of the last
   * replayed commit (`now() - pg_last_xact_replay_timestamp()`). Cached for `lagCacheMs`; concurrent
   * callers share one measurement. Measured on the replica only: the primary never sees heavy traffic.
   * @throws LocusError from the replica's policy when the replica is down or its breaker is open.
   */
  async replicaLag(deadline: Deadline): Promise<LagReading> {
    const cacheMs = this.options.lagCacheMs ?? 250;
    if (this.lag && performance.now() - this.lag.measuredAt < cacheMs) return this.lag;
    this.lagInFlight ??= this.replicaPolicy
      .execute(deadline, 'measuring replica lag', () => measureLag(this.options.replica))
      .then((reading) => (this.lag = reading))
      .finally(() => (this.lagInFlight = undefined));
    return this.lagInFlight;
  }

  /**
   * Checks the replica may serve a heavy query: reachable, breaker closed, and lag within bound.
   * @throws LocusError LOCUS_REPLICA_UNAVAILABLE, LOCUS_CIRCUIT_OPEN or LOCUS_REPLICA_LAGGING (503,
   *   Retry-After) — never falls back to the primary.
   */
  async requireFreshReplica(deadline: Deadline): Promise<LagReading> {
    const reading = await this.replicaLag(deadline);
    if (reading.replicaLagMs !== null && reading.replicaLagMs > this.options.maxReplicaLagMs) {
      throw new LocusError(
        'LOCUS_REPLICA_LAGGING',
        `the replica is ${Math.round(reading.replicaLagMs)} ms behind (bound ${this.options.maxReplicaLagMs} ms)`,
        { retryAfterSeconds: Math.max(1, Math.ceil(reading.replicaLagMs / 1000)) },
      );
    }
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
   * A light read: on the replica when it is reachable, its breaker closed and its lag within bound;
   * otherwise on the read primary. Errors that are not about availability (bad input, not found) are
   * not masked by a fallback.
   */
  async pointRead<T>(
    deadline: Deadline,
    what: string,
    fn: (db: Queryable) => Promise<T>,
  ): Promise<{ value: T; backend: ReadBackend }> {
    try {
      await this.requireFreshReplica(deadline);
      return { value: await this.onReplica(deadline, what, fn), backend: 'replica' };
    } catch (error) {
      if (!isAvailabilityError(error) || deadline.expired) throw error;
      return { value: await this.onPrimary(deadline, what, fn), backend: 'primary' };
    }
  }

  /**
   * Runs `fn` in a read-only REPEATABLE READ transaction on one replica connection whose
   * statement_timeout is the deadline's remaining time, so the server stops the work at the deadline.
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
          String(Math.max(1, deadline.remaining())),
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

export function isAvailabilityError(error: unknown): boolean {
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

/**
 * One round trip on the replica: its replay lag, and the age of the projector's newest commit as the
 * replica sees it (projector_commits, migration 0002) — how stale the views are at most while events
 * keep flowing; null before the projector's first commit.
 */
async function measureLag(replica: pg.Pool): Promise<LagReading> {
  const { rows } = await replica.query<{ lag_ms: number | null; commit_age_ms: number | null }>(
    `SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                 ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)
            END::float8 AS lag_ms,
            (SELECT GREATEST(0, EXTRACT(EPOCH FROM now() - max(committed_at)) * 1000)::float8
             FROM projector_commits) AS commit_age_ms`,
  );
  const row = rows[0];
  return {
    replicaLagMs: row?.lag_ms ?? null,
    projectorCommitAgeMs: row?.commit_age_ms ?? null,
    measuredAt: performance.now(),
  };
}
