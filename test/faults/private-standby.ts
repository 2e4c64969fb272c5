import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { withDatabase } from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';

const run = promisify(execFile);

/**
 * A hot standby of the read primary that belongs to one test file, so the test can disconnect,
 * pause, promote and stop it without touching the shared replica every other test reads.
 */
export interface PrivateStandby {
  port: number;
  /** The URL of `database` on this standby. */
  url(database: string): string;
  /** Runs one statement on the standby's `postgres` database. */
  sql<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** Points primary_conninfo at a closed port and waits until no WAL receiver streams. */
  disconnect(): Promise<void>;
  /** Restores the original primary_conninfo and waits until the receiver streams again. */
  reconnect(): Promise<void>;
  /** Waits until the standby has replayed everything the primary had written when called. */
  catchUp(): Promise<void>;
  /** Ends recovery: the standby becomes a primary of its own. */
  promote(): Promise<void>;
  /** Stops the server (fast shutdown); `destroy` still removes its files. */
  stop(): Promise<void>;
  /** Stops the server if it runs and removes its data directory. Safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * The server binaries of the primary's major version, or a reason they cannot be used here (a primary
 * in a container, or no local PostgreSQL install): the caller then skips, saying why.
 */
export async function standbyBinaries(primaryUrl: string): Promise<{ bin: string } | { missing: string }> {
  const client = new pg.Client({ connectionString: primaryUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ major: string }>(
      "SELECT (current_setting('server_version_num')::int / 10000)::text AS major",
    );
    const bin = process.env.LOCUS_PG_BIN ?? `/usr/lib/postgresql/${rows[0]!.major}/bin`;
    if (!existsSync(path.join(bin, 'pg_basebackup'))) {
      return { missing: `no PostgreSQL ${rows[0]!.major} binaries at ${bin}` };
    }
    return { bin };
  } finally {
    await client.end();
  }
}

/** As root the server must run as the postgres user (it refuses root); otherwise as ourselves. */
async function asServerUser(): Promise<{ prefix: string[]; uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return { prefix: [] };
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`standby: ${what} not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Takes a base backup of the read primary at `primaryUrl` (no replication slot: the primary's
 * wal_keep_size covers a test's outage) and starts it as a streaming hot standby on a free port.
 */
export async function startPrivateStandby(primaryUrl: string, bin: string): Promise<PrivateStandby> {
  const user = await asServerUser();
  const root = await mkdtemp(path.join(os.tmpdir(), 'locus-standby-'));
  if (user.uid !== undefined) await chown(root, user.uid, user.gid!);
  const data = path.join(root, 'data');
  // The base backup streams as the replication role; the owner of the databases may not replicate.
  const primary = new URL(process.env.LOCUS_READ_REPLICATION_URL ?? primaryUrl);
  const port = await freePort();
  const server = (tool: string, args: string[], env: Record<string, string> = {}) => {
    const [command, ...rest] = [...user.prefix, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
    return run(command!, [...rest, path.join(bin, tool), ...args], { cwd: '/' });
  };
  let running = false;
  const stop = async () => {
    if (!running) return;
    await server('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', data]);
    running = false;
  };
  const destroy = async () => {
    await stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  };

  try {
    await server(
      'pg_basebackup',
      [
        ...['-h', primary.hostname, '-p', primary.port, '-U', decodeURIComponent(primary.username)],
        ...['-D', data, '-R', '-X', 'stream', '-c', 'fast'],
      ],
      { PGPASSWORD: decodeURIComponent(primary.password) },
    );
    // Its own port and socket directory; a small buffer pool: it holds a few test rows.
    const options = `-c port=${port} -c unix_socket_directories=${root} -c shared_buffers=32MB`;
    await server('pg_ctl', [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      data,
      '-l',
      path.join(root, 'log'),
      '-o',
      options,
    ]);
    running = true;
  } catch (error) {
    await destroy();
    throw error;
  }

  const url = (database: string) => {
    const parsed = new URL(withDatabase(primaryUrl, database));
    parsed.port = String(port);
    return parsed.toString();
  };
  // Pausing replay, ALTER SYSTEM and the WAL receiver's state need the superuser: through the
  // standby's own socket directory (local trust), which only the server user and root can enter.
  const sql = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
    const client = new pg.Client({ host: root, port, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  const streaming = async () =>
    (
      await sql<{ streaming: boolean }>(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming",
      )
    )[0]!.streaming;
  const [{ primary_conninfo: conninfo } = { primary_conninfo: '' }] = await sql<{ primary_conninfo: string }>(
    'SHOW primary_conninfo',
  );
  const standby: PrivateStandby = {
    port,
    url,
    sql,
    async disconnect() {
      await sql("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1'");
      await sql('SELECT pg_reload_conf()');
      await until('WAL receiver gone', async () => !(await streaming()));
    },
    async reconnect() {
      await sql(`ALTER SYSTEM SET primary_conninfo = ${pg.escapeLiteral(conninfo)}`);
      await sql('SELECT pg_reload_conf()');
      await until('WAL receiver streaming', streaming);
    },
    async catchUp() {
      const client = new pg.Client({ connectionString: primaryUrl });
      await client.connect();
      const target = (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))
        .rows[0]!.lsn;
      await client.end();
      await until(`replay of ${target}`, async () => {
        const rows = await sql<{ done: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [
          target,
        ]);
        return rows[0]!.done;
      });
    },
    async promote() {
      await sql('SELECT pg_promote(true, 30)');
    },
    stop,
    destroy,
  };
  await until('WAL receiver streaming', streaming).catch(async (error: unknown) => {
    await destroy();
    throw error;
  });
  return standby;
}
