import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { LocusError } from '../shared/errors.js';
import { copyPaged, type ChunkOptions } from './paged-copy.js';
import { COMPARED_VIEWS, LIVE_TABLES } from './view-reconciler.js';
import { viewTables } from '../projector/projection.types.js';

/** The replica's views, copied into temporary tables of the verify session on the primary. */
export const REPLICA_TABLES = viewTables('__replica');

/** The primary's WAL position now: every transaction committed so far ends at or before it. */
export async function currentWalPosition(primary: pg.ClientBase): Promise<string> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0]!.lsn;
}

/**
 * Waits until the replica has replayed the primary's WAL up to `lsn`, so it holds at least what the
 * primary held then. A server not in recovery (an address naming a primary, or a copy) replays
 * nothing and is compared as it is.
 * @throws LocusError LOCUS_REPLICA_LAGGING when the replica has not got there within `waitMs`
 * (disconnected from the primary, replay paused, or far behind).
 */
export async function waitForReplay(replica: pg.ClientBase, lsn: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await replica.query<{ standby: boolean; replayed: string | null; reached: boolean }>(
      `SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed,
              coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS reached`,
      [lsn],
    );
    const state = rows[0]!;
    if (!state.standby || state.reached) return;
    if (Date.now() >= deadline) {
      throw new LocusError(
        'LOCUS_REPLICA_LAGGING',
        `the replica has replayed the primary's WAL up to ${state.replayed ?? 'nothing'}, not up to ${lsn} ` +
          `(the primary's position when verify read it), after waiting ${Math.round(waitMs / 1000)} s: it is ` +
          `disconnected, paused or far behind, so its views were not checked`,
      );
    }
    await sleep(100);
  }
}

/**
 * Copies every view of the replica, in one snapshot of it, into `REPLICA_TABLES` of `session`, a
 * chunk at a time. A hot standby cannot hold temporary tables, so the comparison runs on the primary.
 */
export async function copyReplicaViews(
  replica: pg.ClientBase,
  session: pg.ClientBase,
  options: ChunkOptions,
): Promise<void> {
  await replica.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    for (const { view, key, table } of COMPARED_VIEWS) {
      await session.query(`CREATE TEMP TABLE ${table(REPLICA_TABLES)} (LIKE ${table(LIVE_TABLES)})`);
      await copyPaged(
        replica,
        session,
        {
          step: `replica ${view}`,
          columns: '*',
          table: table(LIVE_TABLES),
          key,
          target: table(REPLICA_TABLES),
        },
        options,
      );
    }
  } finally {
    await replica.query('COMMIT');
  }
}
