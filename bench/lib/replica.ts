import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Waits until the replica has replayed the primary's WAL up to now: what was written is readable there. */
export async function waitForReplay(primary: Queryable, replica: Queryable): Promise<void> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  for (;;) {
    const { rows: done } = await replica.query<{ ok: boolean }>(
      'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
      [rows[0]!.lsn],
    );
    if (done[0]?.ok) return;
    await sleep(20);
  }
}

/**
 * A client on the replica for a database that may not have arrived there yet (it comes by WAL):
 * retries the connection for up to 15 s.
 */
export async function connectToReplica(url: string): Promise<pg.Client> {
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      return client;
    } catch (error) {
      if (attempt > 150) throw error;
      await sleep(100);
    }
  }
}
