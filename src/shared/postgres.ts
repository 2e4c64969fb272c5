import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

// bigint columns (versions, counts, offsets) fit in a JS number for locus's purposes; numeric stays text.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PoolOptions {
  /** Shown in pg_stat_activity, so an operator can tell the processes apart. */
  applicationName: string;
  max?: number;
  /** Server-side statement_timeout for every statement on this pool. */
  statementTimeoutMs?: number;
  /** Server settings for every session of this pool (sent at connect, e.g. `{ jit: 'off' }`). */
  sessionSettings?: Readonly<Record<string, string>>;
}

/** A pg pool with a name and a statement timeout; every database call of locus goes through one. */
export function createPool(url: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    application_name: options.applicationName,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    ...(options.sessionSettings ? { options: sessionOptions(options.sessionSettings) } : {}),
  });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

/** The startup `options` string for `settings`: `-c name=value` each, spaces in values escaped. */
export function sessionOptions(settings: Readonly<Record<string, string>>): string {
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value.replace(/([\\ ])/g, '\\$1')}`)
    .join(' ');
}

export function createKysely<DB>(pool: pg.Pool): Kysely<DB> {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}
