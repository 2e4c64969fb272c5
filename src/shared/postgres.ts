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
  /**
   * pg's pipeline mode: a client writes each query without waiting for the answers to the ones
   * before, so sendTogether costs one round trip with every value bound. No cursors or streams.
   */
  pipeline?: boolean;
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
    ...(options.pipeline ? { pipeline: true } : {}),
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

/** Pairs a statement's text with the values bound to its `$n` parameters. */
export function statement(text: string, values: Statement['values']): Statement {
  return { text, values };
}

/**
 * Sends `statements` in order and returns each one's result, in order: on a client in pipeline mode
 * (createPool's `pipeline`) in ONE round trip, each statement with its values bound; on any other
 * client one after another. Why: the projector's small batches are short transactions of many short
 * statements, and on a busy machine every round trip waits for both the projector and its backend to
 * be scheduled again. Meant for statements inside a transaction: there, a failing statement aborts
 * it, the ones after it fail too (25P02) and a COMMIT among them rolls back; sendTogether rejects
 * with the first failure. A statement after the COMMIT would run on its own, whatever failed before
 * it, so a COMMIT may only come last.
 * @throws RangeError when a COMMIT is not the last statement; else the first statement's failure.
 */
export async function sendTogether(
  client: pg.ClientBase,
  statements: readonly (Statement | string)[],
): Promise<pg.QueryResult[]> {
  const commit = statements.indexOf('COMMIT');
  if (commit !== -1 && commit !== statements.length - 1)
    throw new RangeError('sendTogether: COMMIT must be the last statement');
  const send = (s: Statement | string) =>
    typeof s === 'string' ? client.query(s) : client.query(s.text, [...s.values]);
  if (!isPipelined(client)) {
    const results: pg.QueryResult[] = [];
    for (const statement of statements) results.push(await send(statement));
    return results;
  }
  const settled = await Promise.allSettled(statements.map(send));
  const results: pg.QueryResult[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'rejected') throw outcome.reason;
    results.push(outcome.value);
  }
  return results;
}

function isPipelined(client: pg.ClientBase): boolean {
  return (client as { pipeline?: boolean }).pipeline === true;
}
