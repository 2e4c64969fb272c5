import type pg from 'pg';
import type { Deadline } from './deadline.js';
import type { ReadStore } from './read-store.js';
import {
  heavyRefusal,
  PROBE_SQL,
  probeFromRow,
  type ReplicaFreshness,
  type ReplicaProbe,
} from './replica.freshness.js';

/*
 * A heavy query's snapshot on the replica, opened in as few round trips as the guarantees allow: over
 * a slow link each round trip costs more than the procedure itself.
 */

/**
 * The simple-protocol string that opens a read-only REPEATABLE READ snapshot with its
 * statement_timeout, in one round trip. Only this integer is inlined (simple protocol carries no
 * parameters); every value a client sent stays a bound parameter of the statements that follow.
 * @throws RangeError when `statementTimeoutMs` is not a positive integer.
 */
export function snapshotSetup(statementTimeoutMs: number): string {
  if (!Number.isSafeInteger(statementTimeoutMs) || statementTimeoutMs < 1) {
    throw new RangeError(`statement timeout must be a positive integer of ms, not ${statementTimeoutMs}`);
  }
  return `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = ${statementTimeoutMs}`;
}

/**
 * Opens the snapshot on `client` and reads the replica's freshness in the same round trip, while the
 * read primary is asked for its WAL position at the same time; refuses a replica that is not a
 * streaming standby with a known lag within LOCUS_MAX_REPLICA_LAG_MS (heavyRefusal) before any heavy
 * statement is sent.
 *
 * Why the reading is taken with the snapshot rather than kept from an earlier probe: the probe is the
 * statement that takes the snapshot, so the lag it reports is the lag of the very data the procedure
 * then reads (a reading kept for a while says nothing of a replica that fell behind since). The
 * primary is asked only once the replica connection is open, so a replica that cannot be reached
 * fails before the primary sees anything.
 *
 * On failure or refusal the client is released (discarded, or rolled back first); on success the
 * caller owns it and must end it with `finishSnapshot`.
 * @throws LocusError LOCUS_REPLICA_UNAVAILABLE / LOCUS_REPLICA_LAGGING (refusals), or the replica's
 *   error (the caller's policy translates it).
 */
export async function openFreshSnapshot(
  store: ReadStore,
  client: pg.PoolClient,
  deadline: Deadline,
  statementTimeoutMs: number,
): Promise<ReplicaFreshness> {
  const startedAt = performance.now();
  const position = store.readPrimaryPosition(deadline);
  // Settled here whatever the replica does, so that a failure on one side never goes unobserved.
  const positionSettled = position.then(
    () => undefined,
    () => undefined,
  );
  let probe: ReplicaProbe;
  try {
    const results = (await client.query(
      `${snapshotSetup(statementTimeoutMs)}; ${PROBE_SQL}`,
    )) as unknown as pg.QueryResult[];
    probe = probeFromRow(results.at(-1)!.rows[0] as Parameters<typeof probeFromRow>[0]);
  } catch (error) {
    store.probeFailed(deadline);
    await positionSettled;
    client.release(error as Error);
    throw error;
  }
  let reading: ReplicaFreshness;
  try {
    reading = store.concludeReading(probe, await position, startedAt, deadline);
  } catch (error) {
    finishSnapshot(client, 'ROLLBACK');
    throw error;
  }
  const refusal = heavyRefusal(reading, store.options.maxReplicaLagMs);
  if (refusal) {
    finishSnapshot(client, 'ROLLBACK');
    throw refusal;
  }
  return reading;
}

/**
 * Ends a read-only snapshot without making the request wait for it: the answer is already read, so
 * nothing the COMMIT says can change it. The connection goes back to the pool only once the server
 * has ended the transaction (node-postgres answers queries in order), and is discarded if that fails,
 * so the pool's next user never gets an open or failed transaction.
 */
export function finishSnapshot(client: pg.PoolClient, end: 'COMMIT' | 'ROLLBACK' = 'COMMIT'): void {
  void client.query(end).then(
    () => client.release(),
    (error: unknown) => client.release(error as Error),
  );
}

/**
 * Opens the snapshot on `client` in one round trip, checking no freshness (for reads that decide,
 * not answer: the router's statistics). On failure the client is discarded.
 */
export async function openSnapshot(client: pg.PoolClient, statementTimeoutMs: number): Promise<void> {
  try {
    await client.query(snapshotSetup(statementTimeoutMs));
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
}
