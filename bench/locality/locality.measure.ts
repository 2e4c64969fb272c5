import { createHash } from 'node:crypto';
import { measureProcess } from '../lib/process-sampler.js';
import { progressBar } from '../lib/progress.js';
import { LatencyRecorder, round } from '../lib/stats.js';
import type { Measured, SweepPoint } from './locality.report.js';
import { DEADLINE_MS } from './locality.settings.js';
import { authHeader } from '../lib/auth.js';

/** The query service under measurement: its address and its process. */
export interface QueryTarget {
  url: string;
  pid: number;
}

async function backendBytes(
  target: QueryTarget,
): Promise<{ total: number; byBackend: Record<string, number> }> {
  const text = await (await fetch(`${target.url}/metrics`)).text();
  const byBackend: Record<string, number> = {};
  let total = 0;
  for (const match of text.matchAll(/^locus_query_backend_bytes_received_total\{([^}]*)\} (\S+)$/gm)) {
    const backend = /backend="([^"]+)"/.exec(match[1]!)?.[1] ?? 'unknown';
    byBackend[backend] = Number(match[2]);
    total += Number(match[2]);
  }
  return { total, byBackend };
}

interface Run {
  latencyMs: number;
  bytesMoved: number;
  bytesByBackend: Record<string, number>;
  cpuSeconds: number;
  peakRssMb: number;
  rows: number;
  resultBytes: number;
  hash: string;
  chose: string;
}

/** One request, timed to the last body byte; the query process's CPU, RSS and backend bytes around it. */
async function measureOnce(target: QueryTarget, url: string, ndjson: boolean): Promise<Run> {
  const before = await backendBytes(target);
  const { result, usage } = await measureProcess(target.pid, async () => {
    const started = performance.now();
    const response = await fetch(url, {
      headers: { 'locus-deadline-ms': String(DEADLINE_MS), ...authHeader() },
      signal: AbortSignal.timeout(DEADLINE_MS + 10_000),
    });
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let bytes = 0;
    let lines = 0;
    for await (const part of response.body as AsyncIterable<Uint8Array>) {
      const buffer = Buffer.from(part);
      hash.update(buffer);
      bytes += buffer.length;
      if (ndjson) {
        for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) lines += 1;
      } else {
        chunks.push(buffer);
      }
    }
    const latencyMs = performance.now() - started;
    if (response.status !== 200) {
      throw new Error(
        `${url} answered ${response.status}: ${Buffer.concat(chunks).toString().slice(0, 500)}`,
      );
    }
    let rows = lines;
    if (!ndjson) {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      rows = resultRows(body);
    }
    return {
      latencyMs,
      rows,
      resultBytes: bytes,
      hash: hash.digest('hex'),
      chose: response.headers.get('locus-strategy') ?? '?',
    };
  });
  const after = await backendBytes(target);
  const bytesByBackend: Record<string, number> = {};
  for (const [backend, value] of Object.entries(after.byBackend)) {
    const moved = value - (before.byBackend[backend] ?? 0);
    if (moved > 0) bytesByBackend[backend] = moved;
  }
  return {
    ...result,
    bytesMoved: after.total - before.total,
    bytesByBackend,
    cpuSeconds: usage.cpuSeconds,
    peakRssMb: usage.peakRssMb,
  };
}

/** Result rows as a reader counts them: top-rated products, trend points, report rows + bands, buckets. */
function resultRows(body: Record<string, unknown>): number {
  if (Array.isArray(body.points)) return body.points.length;
  if (Array.isArray(body.buckets)) return body.buckets.length;
  const categories = (body.categories ?? []) as { products?: unknown[]; priceBands?: unknown[] }[];
  return categories.reduce((n, c) => n + (c.products?.length ?? 1 + (c.priceBands?.length ?? 0)), 0);
}

function summarise(query: string, strategy: string, runs: Run[]): Measured {
  const latency = new LatencyRecorder();
  for (const run of runs) latency.record(run.latencyMs);
  const summary = latency.summary();
  const mean = (pick: (run: Run) => number) => runs.reduce((sum, run) => sum + pick(run), 0) / runs.length;
  const backends: Record<string, number> = {};
  for (const run of runs) {
    for (const [backend, bytes] of Object.entries(run.bytesByBackend)) {
      backends[backend] = (backends[backend] ?? 0) + bytes / runs.length;
    }
  }
  return {
    query,
    strategy,
    runs: runs.length,
    p50Ms: round(summary.p50),
    p99Ms: round(summary.p99),
    meanMs: round(summary.mean),
    bytesPerRun: Math.round(mean((run) => run.bytesMoved)),
    bytesPerRunByBackend: Object.fromEntries(Object.entries(backends).map(([k, v]) => [k, Math.round(v)])),
    cpuSecondsPerRun: round(
      mean((run) => run.cpuSeconds),
      3,
    ),
    peakRssMb: round(Math.max(...runs.map((run) => run.peakRssMb)), 1),
    rows: runs[0]!.rows,
    resultBytes: runs[0]!.resultBytes,
    hashes: [...new Set(runs.map((run) => run.hash))],
    chose: [...new Set(runs.map((run) => run.chose))],
  };
}

/**
 * A strategy as the query string says it: `locality:raw` and `locality:rollup` are locality with the
 * procedure's path fixed (`path=…`), so both paths run side by side; any other name is the strategy.
 */
export function strategyQuery(strategy: string): string {
  const [name, path] = strategy.split(':');
  return path ? `strategy=${name}&path=${path}` : `strategy=${name}`;
}

export interface QuerySpec {
  name: string;
  path: string;
  ndjson?: boolean;
}

/**
 * Measures one query under each strategy: a warm-up request each (unless `warmUp` is false), then
 * `reps` rounds, each round running every strategy once in a rotated order (round-robin), so drift in
 * the machine's load hits every strategy alike. `caps` bounds the runs of slow strategies (they take
 * part in the first rounds only).
 */
export async function compare(
  target: QueryTarget,
  spec: QuerySpec,
  strategies: string[],
  reps: number,
  warmUp: boolean,
  label: string,
  caps: Partial<Record<string, number>> = {},
): Promise<Measured[]> {
  const runs = new Map<string, Run[]>(strategies.map((s) => [s, []]));
  const runsOf = (strategy: string) => Math.min(reps, caps[strategy] ?? reps);
  // A capped strategy is the slow one: its first measured run is its own warm-up.
  const warmed = warmUp ? strategies.filter((strategy) => caps[strategy] === undefined) : [];
  const total = warmed.length + strategies.reduce((n, strategy) => n + runsOf(strategy), 0);
  const progress = progressBar(`${label.padEnd(34)} [{bar}] {value}/{total} requests | last {last}`);
  progress.start(total, 0, { last: '-' });
  const url = (strategy: string) => `${target.url}${spec.path}&${strategyQuery(strategy)}`;
  let done = 0;
  try {
    {
      for (const strategy of warmed) {
        const run = await measureOnce(target, url(strategy), spec.ndjson ?? false);
        progress.update(++done, { last: `${strategy} ${Math.round(run.latencyMs)} ms (warm-up)` });
      }
    }
    for (let round = 0; round < reps; round++) {
      const order = strategies.map((_, i) => strategies[(i + round) % strategies.length]!);
      for (const strategy of order) {
        if (runs.get(strategy)!.length >= runsOf(strategy)) continue;
        const run = await measureOnce(target, url(strategy), spec.ndjson ?? false);
        runs.get(strategy)!.push(run);
        progress.update(++done, { last: `${strategy} ${Math.round(run.latencyMs)} ms` });
      }
    }
  } finally {
    progress.stop();
  }
  return strategies.map((strategy) => summarise(spec.name, strategy, runs.get(strategy)!));
}

/** Every strategy's runs of one query must have produced one and the same body. */
export function mismatches(measured: Measured[]): string[] {
  const hashes = new Set(measured.flatMap((m) => m.hashes));
  if (hashes.size <= 1) return [];
  return [
    `${measured[0]!.query}: ${hashes.size} different bodies (${measured
      .map((m) => `${m.strategy}: ${m.hashes.map((h) => h.slice(0, 8)).join('/')}`)
      .join(', ')})`,
  ];
}

/** One point of the ratio sweep: the result/input ratio and each strategy's figures there. */
export function sweepPoint(
  name: string,
  groups: number | null,
  reviews: number,
  measured: Measured[],
): SweepPoint {
  const of = (strategy: string) => measured.find((m) => m.strategy === strategy)!;
  const rows = of('locality').rows;
  return {
    name,
    groups,
    rows,
    ratio: rows / reviews,
    locality: of('locality'),
    serviceJoin: of('service-join'),
    auto: of('auto'),
  };
}

/** One line per strategy of a measured query, as the run goes. */
export function printRow(measured: Measured[]): void {
  for (const m of measured) {
    console.log(
      `  ${m.query.padEnd(18)} ${m.strategy.padEnd(13)} p50 ${String(m.p50Ms).padStart(9)} ms  p99 ${String(m.p99Ms).padStart(9)} ms  ` +
        `${(m.bytesPerRun / 1e6).toFixed(3).padStart(9)} MB/run  cpu ${m.cpuSecondsPerRun}s  rss ${m.peakRssMb} MB  rows ${m.rows}` +
        (m.strategy === 'auto' ? `  chose ${m.chose.join('/')}` : ''),
    );
  }
}
