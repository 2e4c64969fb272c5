/**
 * The procedures near the floor (issue 17, section 2): each heavy query's procedure by its raw path and
 * by its rollup path, beside the floor, a bare scan that reads the same rows (`SELECT count(*)` and
 * `SELECT sum(rating)` over review_view with the same window). Measured on the replica itself, one
 * statement at a time and then 4 at once, so the figures are the store's, not the link's or the
 * service's. The raw and rollup answers of each query must be identical.
 */
import { createHash } from 'node:crypto';
import { createPool } from '../../src/shared/postgres.js';
import { markdownTable } from '../lib/results.js';
import { LatencyRecorder, round } from '../lib/stats.js';

export interface FloorMeasured {
  query: string;
  /** `floor`, or the procedure's path. */
  path: 'floor' | 'raw' | 'rollup';
  runs: number;
  p50Ms: number;
  p99Ms: number;
  /** p99 while 4 sessions run the same statements at once. */
  p99Concurrent4Ms: number;
  rows: number;
}

export interface FloorResults {
  size: string;
  reviews: number;
  measured: FloorMeasured[];
  /** Queries whose raw and rollup answers differed. */
  mismatches: string[];
}

interface Call {
  query: string;
  path: FloorMeasured['path'];
  /** Statements run in one snapshot, as the query service runs them; `$1`, `$2` = the window. */
  statements: string[];
}

const EDGES = '{1000,2500,5000,10000}';

/** The heavy queries as the benchmark asks them over HTTP (bench defaults), and the two floors. */
function calls(): Call[] {
  const both = (query: string, statements: string[]): Call[] => [
    { query, path: 'raw', statements },
    { query, path: 'rollup', statements: statements.map((s) => s.replace(/\b(locus_\w+)\(/, '$1_rollup(')) },
  ];
  return [
    {
      query: 'count(*)',
      path: 'floor',
      statements: ['SELECT count(*) FROM review_view WHERE created_at >= $1 AND created_at < $2'],
    },
    {
      query: 'sum(rating)',
      path: 'floor',
      statements: ['SELECT sum(rating) FROM review_view WHERE created_at >= $1 AND created_at < $2'],
    },
    ...both('top-rated', ['SELECT * FROM locus_top_rated(NULL, $1, $2, 5, 10, 10)']),
    ...both('rating-trend', [`SELECT * FROM locus_rating_trend(NULL, NULL, $1, $2, 'week')`]),
    ...both('category-report', [
      'SELECT * FROM locus_category_report(NULL, $1, $2)',
      `SELECT * FROM locus_category_price_bands(NULL, $1, $2, '${EDGES}')`,
    ]),
  ];
}

/**
 * Measures every call `reps` times, round-robin (drift in the machine's load hits every call alike),
 * after one warm-up each; then `reps` more per call with 4 sessions running it at once.
 */
export async function measureFloor(
  replicaUrl: string,
  window: { from: string; to: string },
  size: { name: string; reviews: number },
  reps: number,
): Promise<FloorResults> {
  const pool = createPool(replicaUrl, { applicationName: 'bench-locality-floor', max: 4 });
  try {
    const list = calls();
    const run = async (call: Call) => {
      const client = await pool.connect();
      try {
        const started = performance.now();
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const rows: unknown[] = [];
        for (const statement of call.statements)
          rows.push(
            ...(await client.query<Record<string, unknown>>(statement, [window.from, window.to])).rows,
          );
        await client.query('COMMIT');
        return { ms: performance.now() - started, rows };
      } finally {
        client.release();
      }
    };
    const hashes = new Map<string, Set<string>>();
    const alone = new Map(list.map((call) => [call, new LatencyRecorder()]));
    const together = new Map(list.map((call) => [call, new LatencyRecorder()]));
    const rowCounts = new Map<Call, number>();
    for (const call of list) await run(call);
    for (let round = 0; round < reps; round++) {
      for (const call of list) {
        const { ms, rows } = await run(call);
        alone.get(call)!.record(ms);
        rowCounts.set(call, rows.length);
        if (call.path !== 'floor') {
          const seen = hashes.get(call.query) ?? new Set<string>();
          seen.add(createHash('sha256').update(JSON.stringify(rows)).digest('hex'));
          hashes.set(call.query, seen);
        }
      }
    }
    for (const call of list) {
      for (let round = 0; round < reps; round++) {
        const runs = await Promise.all([1, 2, 3, 4].map(() => run(call)));
        for (const { ms } of runs) together.get(call)!.record(ms);
      }
    }
    return {
      size: size.name,
      reviews: size.reviews,
      measured: list.map((call) => ({
        query: call.query,
        path: call.path,
        runs: reps,
        p50Ms: round(alone.get(call)!.summary().p50),
        p99Ms: round(alone.get(call)!.summary().p99),
        p99Concurrent4Ms: round(together.get(call)!.summary().p99),
        rows: rowCounts.get(call) ?? 0,
      })),
      mismatches: [...hashes].filter(([, seen]) => seen.size > 1).map(([query]) => query),
    };
  } finally {
    await pool.end();
  }
}

/** The floor table of one size: each query's paths against the faster floor, p50 to p50. */
export function floorTable(results: FloorResults): string {
  const floors = results.measured.filter((m) => m.path === 'floor');
  const floor = Math.min(...floors.map((m) => m.p50Ms));
  return markdownTable(
    results.measured.map((m) => ({
      query: m.query,
      path: m.path,
      'p50 ms': m.p50Ms,
      'p99 ms': m.p99Ms,
      'p99 ms, 4 at once': m.p99Concurrent4Ms,
      '× floor (p50)': m.path === 'floor' ? '' : `${(m.p50Ms / floor).toFixed(2)}×`,
      rows: m.rows,
    })),
  );
}

/** The goal of issue 17: each heavy query's p50 within 1.5× of the floor, by each path. */
export const FLOOR_GOAL = 1.5;

export function floorGoals(results: FloorResults): { goal: string; measured: string; met: boolean }[] {
  const floors = results.measured.filter((m) => m.path === 'floor');
  const floor = Math.min(...floors.map((m) => m.p50Ms));
  return results.measured
    .filter((m) => m.path !== 'floor')
    .map((m) => ({
      goal: `${m.query} by the ${m.path} path: p50 within ${FLOOR_GOAL}× of the floor`,
      measured: `${(m.p50Ms / floor).toFixed(2)}× (${m.p50Ms} ms vs ${floor} ms; p99 with 4 at once ${m.p99Concurrent4Ms} ms)`,
      met: m.p50Ms <= FLOOR_GOAL * floor,
    }));
}
