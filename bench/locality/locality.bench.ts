/**
 * Locality benchmark (issue 6): does running a heavy query next to the data (a procedure on the read
 * replica) beat pulling the rows into the query service and joining them there (service-join), or
 * through the owners' APIs (composition) — and does `strategy=auto` pick the faster one?
 *
 * In an environment of its own (fresh catalog + read-store databases, a Mongo database, a topic
 * prefix, ports 28080–28084) it starts the real locus processes (catalog, reviews, relay, projector,
 * query) with the ProcessSupervisor, seeds categories and products through the catalog API and the
 * first 10k reviews through the reviews API (the full write path), then grows to 100k and 1M reviews by
 * a BULK path: review-created events produced straight to the reviews topic, so the projector still
 * builds the views but the reviews store never sees those reviews. Composition (which reads the
 * reviews store) is therefore measured only at 10k, where every strategy sees the same data.
 *
 * At each size: top-rated, rating-trend, category-report, rollup (G=100) and export, each strategy
 * interleaved round-robin after a warm-up — latency p50/p99, bytes the query process received from
 * its backends (its /metrics gauge), its CPU time and peak RSS, result rows and bytes, and whether
 * every strategy returned the same body. At the largest size: the result/input ratio sweep (rollup
 * with G = 1 … 1M, the export as ratio 1) with `strategy=auto` beside the two fixed strategies.
 *
 * Run: `npm run bench:locality -- [--sizes 10k,100k,1m] [--quick]` or
 * `npx tsx bench/locality/locality.bench.ts …`. Writes bench/results/locality-<time>.json,
 * locality-latest.md and locality-latest.svg.
 */
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { generateReviews, createRandom, SIZES } from '../../examples/product-catalog/dataset.js';
import { seedThroughApis } from '../../examples/product-catalog/seed.js';
import { LOCUS_HOME, readEnvFile } from '../../src/cli/services.command.js';
import { CLOUDEVENTS_CONTENT_TYPE } from '../../src/contracts/envelope.js';
import { createEnvelope } from '../../src/contracts/registry.js';
import { ReviewCreatedV1, type ReviewState } from '../../src/contracts/review.events.js';
import { topicNames } from '../../src/contracts/topics.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { migrate } from '../../src/migrate/migrator.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { createPool } from '../../src/shared/postgres.js';
import { ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import { measureProcess } from '../lib/process-sampler.js';
import { machineDescription, writeResults } from '../lib/results.js';
import { LatencyRecorder, round } from '../lib/stats.js';
import {
  renderChart,
  renderMarkdown,
  type BenchResults,
  type Measured,
  type SweepPoint,
} from './locality.report.js';

const SIZE_NAMES = { '10k': 10_000, '100k': 100_000, '1m': 1_000_000 } as const;
type SizeName = keyof typeof SIZE_NAMES;
const API_REVIEWS = 10_000;
const CATALOG = { categories: SIZES.medium.categories, products: SIZES.medium.products };
const SEED = 42;
const SWEEP_GROUPS = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
const PORTS = { query: 28080, catalog: 28081, reviews: 28082, projector: 28083, relay: 28084 };
const DEADLINE_MS = 600_000;

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10k,100k,1m' },
    quick: { type: 'boolean', default: false },
    composition: { type: 'string', default: 'top-rated' },
  },
});
/**
 * Composition pages every review out of the reviews store (FerretDB: seconds per 500-review page on
 * this machine), so one composition request over 10k reviews takes minutes: by default it is measured
 * once, on top-rated (`--composition all` for every query). Every composition request reads the same
 * rows (all products, all reviews), whatever it computes from them.
 */
const COMPOSITION_RUNS = 1;
const sizes = (flags.quick ? '10k' : flags.sizes)
  .split(',')
  .map((name) => name.trim().toLowerCase() as SizeName)
  .sort((a, b) => SIZE_NAMES[a] - SIZE_NAMES[b]);
for (const name of sizes) {
  if (!(name in SIZE_NAMES))
    throw new Error(`--sizes: ${name} is not one of ${Object.keys(SIZE_NAMES).join(', ')}`);
}

const compositionQueries =
  flags.composition === 'all'
    ? ['top-rated', 'rating-trend', 'category-report', 'rollup G=100', 'export']
    : flags.composition.split(',');

const env = { ...readEnvFile(), ...process.env };
const config = loadConfig(
  [
    'LOCUS_CATALOG_DB_URL',
    'LOCUS_READ_DB_URL',
    'LOCUS_READ_REPLICA_URL',
    'LOCUS_MONGO_URL',
    'LOCUS_KAFKA_BROKERS',
  ],
  env,
);
const stamp = `${Date.now().toString(36)}_${randomUUID().slice(0, 6)}`;
const names = {
  catalogDb: `bench_loc_catalog_${stamp}`,
  readDb: `bench_loc_read_${stamp}`,
  mongoDb: `bench_loc_reviews_${stamp}`,
  prefix: `bench_loc_${stamp}.`,
};
const topics = topicNames(names.prefix);
const logger = createLogger('bench-locality', 'error');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const step = (message: string) => console.log(`\n▸ [${new Date().toISOString().slice(11, 19)}] ${message}`);

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

const urls = {
  catalogDb: withDatabase(config.LOCUS_CATALOG_DB_URL, names.catalogDb),
  readDb: withDatabase(config.LOCUS_READ_DB_URL, names.readDb),
  replicaDb: withDatabase(config.LOCUS_READ_REPLICA_URL, names.readDb),
  mongo: withDatabase(config.LOCUS_MONGO_URL, names.mongoDb),
};
const endpoints = {
  catalog: `http://127.0.0.1:${PORTS.catalog}`,
  reviews: `http://127.0.0.1:${PORTS.reviews}`,
  query: `http://127.0.0.1:${PORTS.query}`,
};

function bar(format: string): SingleBar {
  return new SingleBar(
    { format: ` ${format}`, noTTYOutput: true, notTTYSchedule: 3000 },
    Presets.shades_classic,
  );
}

async function admin<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

// ── environment ────────────────────────────────────────────────────────────────────────────────

const supervisor = new ProcessSupervisor(path.join(LOCUS_HOME, 'logs', `bench-locality-${stamp}`), {
  ...env,
  LOCUS_CATALOG_DB_URL: urls.catalogDb,
  LOCUS_READ_DB_URL: urls.readDb,
  LOCUS_READ_REPLICA_URL: urls.replicaDb,
  LOCUS_MONGO_URL: urls.mongo,
  LOCUS_TOPIC_PREFIX: names.prefix,
  LOCUS_PROJECTOR_GROUP: `bench-locality-${stamp}`,
  LOCUS_CATALOG_URL: endpoints.catalog,
  LOCUS_REVIEWS_URL: endpoints.reviews,
  LOCUS_QUERY_PORT: String(PORTS.query),
  LOCUS_CATALOG_PORT: String(PORTS.catalog),
  LOCUS_REVIEWS_PORT: String(PORTS.reviews),
  LOCUS_PROJECTOR_PORT: String(PORTS.projector),
  LOCUS_RELAY_PORT: String(PORTS.relay),
  LOCUS_LOG_LEVEL: 'warn',
  // A service-join over 1M reviews takes seconds: the benchmark measures it instead of timing it out.
  LOCUS_QUERY_DEADLINE_MS: String(DEADLINE_MS),
  LOCUS_QUERY_EXPORT_DEADLINE_MS: String(DEADLINE_MS),
  LOCUS_QUERY_MAX_DEADLINE_MS: String(DEADLINE_MS),
  LOCUS_QUERY_STATEMENT_TIMEOUT_MS: String(DEADLINE_MS),
  // The replica replays the whole shared server, where other work writes heavily: its replay lag
  // reaches tens of seconds. This run writes nothing while it measures and waits for the replica to
  // replay its own writes first (analyzeAndReplay), so the service's freshness bound is lifted.
  LOCUS_MAX_REPLICA_LAG_MS: String(DEADLINE_MS),
});
let broker: Broker | undefined;
const created = { catalogDb: false, readDb: false };
let cleaned = false;

async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  step('stopping locus processes and dropping what this run created');
  await supervisor.stopAll().catch((error: unknown) => console.error('stopAll:', error));
  if (broker) {
    await broker
      .deleteTopics([topics.products, topics.categories, topics.reviews, `${names.prefix}dead-letter`])
      .catch((error: unknown) => console.error('deleteTopics:', error));
    await broker.close().catch(() => undefined);
  }
  const drop = (serverUrl: string, name: string) =>
    admin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(
      (error: unknown) => console.error(`drop ${name}:`, error),
    );
  if (created.catalogDb) await drop(config.LOCUS_CATALOG_DB_URL, names.catalogDb);
  if (created.readDb) await drop(config.LOCUS_READ_DB_URL, names.readDb);
  const mongo = new MongoClient(urls.mongo, { serverSelectionTimeoutMS: 5_000 });
  await mongo
    .connect()
    .then(() => mongo.db(names.mongoDb).dropDatabase())
    .catch((error: unknown) => console.error('drop mongo database:', error))
    .finally(() => mongo.close());
}

async function createEnvironment(): Promise<void> {
  step(
    `creating databases ${names.catalogDb}, ${names.readDb}, Mongo ${names.mongoDb}, topics ${names.prefix}*`,
  );
  await admin(config.LOCUS_CATALOG_DB_URL, (client) => client.query(`CREATE DATABASE ${names.catalogDb}`));
  created.catalogDb = true;
  await admin(config.LOCUS_READ_DB_URL, (client) => client.query(`CREATE DATABASE ${names.readDb}`));
  created.readDb = true;
  for (const [url, target] of [
    [urls.catalogDb, 'catalog'],
    [urls.readDb, 'readmodel'],
  ] as const) {
    const pool = createPool(url, { applicationName: 'bench-locality-migrate', max: 1 });
    try {
      await migrate(pool, target);
    } finally {
      await pool.end();
    }
  }
  broker = createBroker({ brokers: config.LOCUS_KAFKA_BROKERS, clientId: 'bench-locality', logger });
  for (const name of ['catalog', 'reviews', 'relay', 'projector', 'query'] as const) {
    // A process left on the port would pass the health check and be measured instead of ours.
    const stale = await fetch(`http://127.0.0.1:${PORTS[name]}/health`).then(
      () => true,
      () => false,
    );
    if (stale)
      throw new Error(`port ${PORTS[name]} (${name}) is already in use; stop whatever listens there`);
    step(`starting ${name} on port ${PORTS[name]} (log ${supervisor.logFile(name)})`);
    await supervisor.start({ name, args: [name], healthUrl: `http://127.0.0.1:${PORTS[name]}/health` });
  }
}

// ── data ───────────────────────────────────────────────────────────────────────────────────────

interface Counts {
  reviews: number;
  products: number;
}

async function replicaCounts(replica: pg.Pool): Promise<Counts> {
  const { rows } = await replica.query<{ reviews: number; products: number }>(
    'SELECT (SELECT count(*) FROM review_view)::int AS reviews, (SELECT count(*) FROM product_summary)::int AS products',
  );
  return rows[0]!;
}

/** Waits until the replica's views hold `target` reviews and the catalog's products, with a bar. */
async function waitForViews(replica: pg.Pool, target: Counts, timeoutMs = 1_200_000): Promise<number> {
  const started = performance.now();
  const progress = bar('views [{bar}] {value}/{total} rows on the replica | {percentage}% | {rate}/s');
  const total = target.reviews + target.products;
  progress.start(total, 0, { rate: 0 });
  let first: number | undefined;
  try {
    for (;;) {
      const counts = await replicaCounts(replica);
      const seen = Math.min(counts.reviews, target.reviews) + Math.min(counts.products, target.products);
      first ??= seen;
      const seconds = (performance.now() - started) / 1000;
      progress.update(seen, { rate: Math.round((seen - first) / Math.max(seconds, 0.001)) });
      if (seen >= total) return seconds;
      if (performance.now() - started > timeoutMs) {
        throw new Error(`the views did not catch up within ${timeoutMs / 1000} s (${seen}/${total})`);
      }
      await sleep(2_000);
    }
  } finally {
    progress.stop();
  }
}

/** As autovacuum would, eventually: fresh planner statistics (they reach the replica by WAL) for auto. */
async function analyzeAndReplay(primary: pg.Pool, replica: pg.Pool): Promise<void> {
  await primary.query('ANALYZE category_view, product_summary, review_view');
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  for (;;) {
    const { rows: done } = await replica.query<{ ok: boolean }>(
      'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
      [rows[0]!.lsn],
    );
    if (done[0]?.ok) return;
    await sleep(100);
  }
}

/**
 * The bulk path: review-created events (full review state, version 1, keyed by product id like the
 * relay keys them) produced straight to the reviews topic. They bypass the reviews store.
 */
async function produceBulkReviews(
  productIds: string[],
  from: number,
  to: number,
  now: Date,
): Promise<number> {
  const producer = await broker!.producer();
  const random = createRandom(SEED + from);
  const count = to - from;
  const size = { categories: CATALOG.categories, products: productIds.length, reviews: count };
  const progress = bar('producing [{bar}] {value}/{total} review-created events | {percentage}% | {rate}/s');
  progress.start(count, 0, { rate: 0 });
  const started = performance.now();
  let done = 0;
  let chunk: { topic: string; key: string; value: string; headers: Record<string, string> }[] = [];
  try {
    for (const review of generateReviews(size, SEED + from)) {
      // Spread over the year before the run, so trends and windows have something to show.
      const createdAt = new Date(now.getTime() - Math.floor(random() * 365 * 86_400_000)).toISOString();
      const state: ReviewState = {
        id: randomUUID(),
        productId: productIds[review.productKey]!,
        author: review.author,
        rating: review.rating,
        title: review.title,
        body: review.body,
        createdAt,
        updatedAt: createdAt,
      };
      const envelope = createEnvelope(ReviewCreatedV1, {
        id: randomUUID(),
        subject: state.id,
        time: new Date(createdAt),
        aggregateVersion: 1,
        data: state,
      });
      chunk.push({
        topic: topics.reviews,
        key: state.productId,
        value: JSON.stringify(envelope),
        headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE },
      });
      // Small sends: keys are skewed (popular products), and one partition's batch must stay under
      // the broker's 1 MB message limit.
      if (chunk.length === 1_000) {
        await producer.send(chunk);
        done += chunk.length;
        chunk = [];
        progress.update(done, { rate: Math.round(done / ((performance.now() - started) / 1000)) });
      }
    }
    if (chunk.length > 0) await producer.send(chunk);
    done += chunk.length;
    progress.update(done, { rate: Math.round(done / ((performance.now() - started) / 1000)) });
  } finally {
    progress.stop();
    await producer.close();
  }
  return done / ((performance.now() - started) / 1000);
}

// ── measuring ──────────────────────────────────────────────────────────────────────────────────

async function backendBytes(): Promise<{ total: number; byBackend: Record<string, number> }> {
  const text = await (await fetch(`${endpoints.query}/metrics`)).text();
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
async function measureOnce(url: string, ndjson: boolean): Promise<Run> {
  const pid = supervisor.pid('query')!;
  const before = await backendBytes();
  const { result, usage } = await measureProcess(pid, async () => {
    const started = performance.now();
    const response = await fetch(url, {
      headers: { 'locus-deadline-ms': String(DEADLINE_MS) },
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
  const after = await backendBytes();
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

interface QuerySpec {
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
async function compare(
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
  const progress = bar(`${label.padEnd(34)} [{bar}] {value}/{total} requests | last {last}`);
  progress.start(total, 0, { last: '-' });
  const url = (strategy: string) => `${endpoints.query}${spec.path}&strategy=${strategy}`;
  let done = 0;
  try {
    {
      for (const strategy of warmed) {
        const run = await measureOnce(url(strategy), spec.ndjson ?? false);
        progress.update(++done, { last: `${strategy} ${Math.round(run.latencyMs)} ms (warm-up)` });
      }
    }
    for (let round = 0; round < reps; round++) {
      const order = strategies.map((_, i) => strategies[(i + round) % strategies.length]!);
      for (const strategy of order) {
        if (runs.get(strategy)!.length >= runsOf(strategy)) continue;
        const run = await measureOnce(url(strategy), spec.ndjson ?? false);
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
function mismatches(measured: Measured[]): string[] {
  const hashes = new Set(measured.flatMap((m) => m.hashes));
  if (hashes.size <= 1) return [];
  return [
    `${measured[0]!.query}: ${hashes.size} different bodies (${measured
      .map((m) => `${m.strategy}: ${m.hashes.map((h) => h.slice(0, 8)).join('/')}`)
      .join(', ')})`,
  ];
}

// ── the run ────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const startedAt = new Date();
  const largest = sizes.at(-1)!;
  // One window for every request: the year of bulk reviews before the run, and the API reviews (now).
  const from = new Date(startedAt.getTime() - 366 * 86_400_000).toISOString();
  const to = new Date(startedAt.getTime() + 86_400_000).toISOString();
  const window = `from=${from}&to=${to}`;
  const results: BenchResults = {
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    machine: machineDescription(),
    loadAverageAtStart: (await import('node:os')).loadavg().map((l) => round(l)),
    loadAverageAtEnd: [],
    catalog: CATALOG,
    apiReviews: API_REVIEWS,
    bulkNote:
      'Reviews beyond the first 10,000 are produced as review-created events straight to the reviews topic ' +
      '(createEnvelope(ReviewCreatedV1, …), keyed by product id): the projector builds real views from them, ' +
      'but they bypass the reviews store, so composition (which reads the reviews API) is measured only at 10k.',
    sizes: [],
    sweep: undefined,
    mismatches: [],
  };
  await createEnvironment();
  const primary = createPool(urls.readDb, { applicationName: 'bench-locality', max: 2 });
  const replica = createPool(urls.replicaDb, { applicationName: 'bench-locality', max: 2 });
  try {
    step(
      `seeding ${CATALOG.categories} categories and ${CATALOG.products} products through the catalog API, ` +
        `${API_REVIEWS} reviews through the reviews API (full path: store → outbox → relay → Kafka → projector)`,
    );
    const seedStarted = performance.now();
    const seeded = await seedThroughApis(endpoints, { ...CATALOG, reviews: API_REVIEWS }, SEED, {
      concurrency: 16,
    });
    const apiSeconds = (performance.now() - seedStarted) / 1000;
    step('waiting for the views to catch up');
    await waitForViews(replica, { reviews: API_REVIEWS, products: CATALOG.products });
    console.log(`  API seeding: ${round(API_REVIEWS / apiSeconds)} reviews/s end to end (incl. products)`);

    let reviews = API_REVIEWS;
    for (const sizeName of sizes) {
      const target = SIZE_NAMES[sizeName];
      let growth: { produceRate: number; projectSeconds: number } | undefined;
      if (target > reviews) {
        step(
          `growing to ${target.toLocaleString('en')} reviews by the BULK path (bypasses the reviews store)`,
        );
        const produceRate = await produceBulkReviews(seeded.productIds, reviews, target, startedAt);
        step('waiting for the projector to build the views');
        const projectSeconds = await waitForViews(replica, { reviews: target, products: CATALOG.products });
        growth = { produceRate: Math.round(produceRate), projectSeconds: round(projectSeconds) };
        reviews = target;
      }
      await analyzeAndReplay(primary, replica);
      const counts = await replicaCounts(replica);
      step(`measuring at ${counts.reviews.toLocaleString('en')} reviews, ${counts.products} products`);
      const reps = target <= 10_000 ? 8 : target <= 100_000 ? 5 : 3;
      const exportReps = target <= 10_000 ? 4 : 2;
      const caps: Partial<Record<string, number>> = { composition: COMPOSITION_RUNS };
      const strategiesOf = (query: string) =>
        target <= API_REVIEWS && compositionQueries.includes(query)
          ? ['locality', 'service-join', 'composition']
          : ['locality', 'service-join'];
      const queries: (QuerySpec & { reps: number; warmUp: boolean })[] = [
        {
          name: 'top-rated',
          path: `/analytics/top-rated?${window}&minReviews=5&limit=10`,
          reps,
          warmUp: true,
        },
        { name: 'rating-trend', path: `/analytics/rating-trend?${window}&bucket=week`, reps, warmUp: true },
        { name: 'category-report', path: `/analytics/category-report?${window}`, reps, warmUp: true },
        { name: 'rollup G=100', path: `/analytics/rollup?${window}&groups=100`, reps, warmUp: true },
        {
          name: 'export',
          path: `/analytics/export?${window}`,
          ndjson: true,
          reps: exportReps,
          // At 1M one export is tens of seconds per strategy: the capped single run is its own warm-up.
          warmUp: target <= 100_000,
        },
      ];
      const measured: Measured[] = [];
      for (const query of queries) {
        const got = await compare(
          query,
          strategiesOf(query.name),
          query.reps,
          query.warmUp,
          `${sizeName} ${query.name}`,
          caps,
        );
        measured.push(...got);
        results.mismatches.push(...mismatches(got).map((m) => `${sizeName} ${m}`));
        printRow(got);
      }
      results.sizes.push({
        size: sizeName,
        reviews: counts.reviews,
        products: counts.products,
        growth,
        measured,
      });

      if (sizeName === largest) {
        step(
          `ratio sweep at ${counts.reviews.toLocaleString('en')} reviews: rollup G = 1 … N, export as ratio 1`,
        );
        const sweep: SweepPoint[] = [];
        const sweepReps = target >= 1_000_000 ? 2 : 3;
        for (const groups of SWEEP_GROUPS.filter((g) => g <= counts.reviews)) {
          const got = await compare(
            { name: `rollup G=${groups}`, path: `/analytics/rollup?${window}&groups=${groups}` },
            ['locality', 'service-join', 'auto'],
            sweepReps,
            groups === 1,
            `sweep rollup G=${groups}`,
          );
          results.mismatches.push(...mismatches(got).map((m) => `sweep ${m}`));
          printRow(got);
          sweep.push(sweepPoint(`rollup G=${groups}`, groups, counts.reviews, got));
        }
        // The export as ratio 1, the negative control of auto: all three interleaved, so auto is
        // compared with runs made under the same load.
        const exports = await compare(
          { name: 'export', path: `/analytics/export?${window}`, ndjson: true },
          ['locality', 'service-join', 'auto'],
          exportReps,
          false,
          'sweep export',
        );
        results.mismatches.push(...mismatches(exports).map((m) => `sweep ${m}`));
        printRow(exports);
        sweep.push(sweepPoint('export', null, counts.reviews, exports));
        results.sweep = { size: sizeName, reviews: counts.reviews, points: sweep };
      }
    }
  } finally {
    await primary.end();
    await replica.end();
    results.finishedAt = new Date().toISOString();
    results.loadAverageAtEnd = (await import('node:os')).loadavg().map((l) => round(l));
    if (results.sizes.length > 0) {
      const fileStamp = results.startedAt.replace(/[:.]/g, '-');
      const written = await writeResults('locality', {
        [`-${fileStamp}.json`]: `${JSON.stringify(results, null, 2)}\n`,
        '-latest.md': renderMarkdown(results),
      });
      if (results.sweep) written.push(await renderChart(results));
      step(`wrote ${written.join(', ')}`);
      if (results.mismatches.length > 0) console.log(`  MISMATCHES:\n  ${results.mismatches.join('\n  ')}`);
      console.log(`\n${renderMarkdown(results).split('## Goals')[1] ?? ''}`);
    }
  }
}

function sweepPoint(name: string, groups: number | null, reviews: number, measured: Measured[]): SweepPoint {
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

function printRow(measured: Measured[]): void {
  for (const m of measured) {
    console.log(
      `  ${m.query.padEnd(18)} ${m.strategy.padEnd(13)} p50 ${String(m.p50Ms).padStart(9)} ms  p99 ${String(m.p99Ms).padStart(9)} ms  ` +
        `${(m.bytesPerRun / 1e6).toFixed(3).padStart(9)} MB/run  cpu ${m.cpuSecondsPerRun}s  rss ${m.peakRssMb} MB  rows ${m.rows}` +
        (m.strategy === 'auto' ? `  chose ${m.chose.join('/')}` : ''),
    );
  }
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.log(`\n${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
