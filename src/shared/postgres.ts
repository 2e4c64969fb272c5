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
  // A client that loses its server must not crash the process, idle in the pool or checked out between
  // two queries (a transaction the server ended for idling, a restart): the query that runs on it next
  // reports the failure, and the pool discards the client when it comes back broken.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
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

/** What arrayLiteral takes: one column of a set-based statement. */
export type ArrayElement = string | number | boolean | null | undefined;

/** An element that needs no quotes: no separators, braces, quotes, backslashes or spaces, and not NULL. */
const BARE_ELEMENT = /^[^\s,{}"\\]+$/;

/**
 * The PostgreSQL array literal of a column of values, for a parameter cast to an array type
 * (`unnest($1::uuid[], $2::text[])`): what node-postgres sends for a JS array, built with one join.
 * node-postgres escapes element by element into several intermediate strings each; for the projector's
 * 10,000-row columns that garbage was a measurable share of its CPU. Strings are quoted only when
 * they must be (ids and timestamps never are); null and undefined become NULL.
 */
export function arrayLiteral(values: readonly ArrayElement[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) parts[i] = 'NULL';
    else if (typeof value !== 'string') parts[i] = String(value);
    else if (BARE_ELEMENT.test(value) && value.toUpperCase() !== 'NULL') parts[i] = value;
    else parts[i] = `"${value.replace(/[\\"]/g, '\\$&')}"`;
  }
  return `{${parts.join(',')}}`;
}

/** A statement and its parameters, kept apart so it can be sent alone or together with others. */
export interface Statement {
  readonly text: string;
  readonly values: readonly (string | number | null)[];
}

export function sql(text: string, values: Statement['values']): Statement {
  return { text, values };
}

/**
 * `statement` with each `$n` replaced by its value as an escaped literal, for the
 * simple query protocol, which carries several statements in one message but no parameters. Only for
 * locus's own statement texts: they hold no `$` other than their placeholders.
 */
export function inlineParameters(statement: Statement): string {
  return statement.text.replace(/\$(\d+)/g, (_placeholder, n: string) => {
    const index = Number(n) - 1;
    if (index >= statement.values.length) throw new RangeError(`no value for $${n} in: ${statement.text}`);
    const value = statement.values[index];
    return value === null || value === undefined ? 'NULL' : quoteLiteral(String(value));
  });
}

/**
 * What pg's escapeLiteral returns (quotes doubled; with a backslash, backslashes doubled in an E''
 * string), built with native replaces: its character-by-character loop is slow on the projector's
 * array literals, which run to megabytes in a catch-up batch.
 */
function quoteLiteral(value: string): string {
  const quoted = `'${value.replace(/'/g, "''")}'`;
  return value.includes('\\') ? ` E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}

/**
 * Sends `statements` in ONE round trip (one simple-protocol query) and returns each one's result, in
 * order. Why: the projector's small batches are short transactions of many short statements, and on a
 * busy machine every round trip waits for both the projector and its backend to be scheduled again.
 * PostgreSQL stops at the first failing statement and reports its error; nothing after it runs.
 */
export async function sendTogether(
  client: pg.ClientBase,
  statements: readonly (Statement | string)[],
): Promise<pg.QueryResult[]> {
  const text = statements.map((s) => (typeof s === 'string' ? s : inlineParameters(s))).join(';\n');
  const result = (await client.query(text)) as pg.QueryResult | pg.QueryResult[];
  return Array.isArray(result) ? result : [result];
}
