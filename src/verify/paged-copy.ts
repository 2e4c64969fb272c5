import type pg from 'pg';

/** Rows a verify step has read so far, reported after every chunk. */
export interface VerifyProgress {
  /** What is being read: a source (`products`, `reviews`, …) or a server's view (`replica review_view`). */
  step: string;
  done: number;
  /** An estimate taken before the step started (the data may move while verify runs). */
  total: number;
}

export interface ChunkOptions {
  /** Rows per round trip, and so the most rows verify holds in memory at once. */
  chunkSize: number;
  onProgress?: (progress: VerifyProgress) => void;
}

/** What to copy: `SELECT <columns> FROM <table>` page by page in `key` order, into `target`. */
export interface PagedCopy {
  step: string;
  /** A select list whose names are the target's column names. */
  columns: string;
  table: string;
  /** A unique, indexed column: the page boundary. */
  key: string;
  target: string;
}

interface Page {
  /** The page's rows as a JSON array. */
  rows: string;
  n: number;
  /** The page's last key, where the next page starts. */
  last: string | null;
}

/**
 * Copies a table from one PostgreSQL session into a table of another, a page at a time (keyset pages
 * on `key`, each page travelling as one JSON text): memory holds one page whatever the table's size,
 * and values keep their exact types (timestamps to the microsecond, numerics, arrays, JSON). Reads in
 * whatever transaction `from` is in, so the caller decides the snapshot.
 * @returns the number of rows copied.
 */
export async function copyPaged(
  from: pg.ClientBase,
  into: pg.ClientBase,
  copy: PagedCopy,
  options: ChunkOptions,
): Promise<number> {
  const page = (after: boolean) =>
    `SELECT coalesce(json_agg(t ORDER BY t.${copy.key}), '[]')::text AS rows, count(*)::int AS n,
            (array_agg(t.${copy.key} ORDER BY t.${copy.key} DESC))[1]::text AS last
     FROM (SELECT ${copy.columns} FROM ${copy.table} ${after ? `WHERE ${copy.key} > $2` : ''}
           ORDER BY ${copy.key} LIMIT $1) t`;
  const total = await estimateRows(from, copy.table);
  let done = 0;
  let last: string | null = null;
  for (;;) {
    const { rows }: pg.QueryResult<Page> = await from.query<Page>(
      page(last !== null),
      last === null ? [options.chunkSize] : [options.chunkSize, last],
    );
    const result: Page | undefined = rows[0];
    if (!result || result.n === 0) break;
    await insertJsonRows(into, copy.target, result.rows);
    done += result.n;
    last = result.last;
    options.onProgress?.({ step: copy.step, done, total: Math.max(total, done) });
    if (result.n < options.chunkSize) break;
  }
  return done;
}

/** Inserts a JSON array of objects whose keys are `table`'s column names. */
export async function insertJsonRows(client: pg.ClientBase, table: string, json: string): Promise<void> {
  await client.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`, [
    json,
  ]);
}

/** The planner's row count of a table: free, and good enough for a progress bar. */
export async function estimateRows(client: pg.ClientBase, table: string): Promise<number> {
  const { rows } = await client.query<{ estimate: number }>(
    `SELECT greatest(reltuples, 0)::bigint AS estimate FROM pg_class WHERE oid = to_regclass($1)`,
    [table],
  );
  return rows[0]?.estimate ?? 0;
}
