/**
 * Read-side benchmark of the query service (not a test). Runs the query service as a child process
 * (`locus query`) over a fresh read-store database (seeded on the read primary, read on the replica)
 * and measures, over HTTP with keep-alive connections:
 *   1. point lookup `GET /products/{id}` latency at 1,000 req/s, open loop (coordinated omission
 *      corrected: latency counts from the intended send time);
 *   2. saturation: single-row JSON req/s, closed loop with 64 requests in flight;
 *   3. the service's peak RSS while doing both (from /proc).
 * Targets: p99 <= 10 ms at 1k req/s; >= 5,000 req/s saturation; RSS <= 200 MB.
 * Run: `npx tsx bench/query/query.bench.ts` (services up, LOCUS_* set or ~/.locus/env); set
 * QUERY_NODE_ARGS to pass Node/V8 flags to the service process only.
 * Writes bench/results/query-<time>.json and .md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { freePort } from '../../test/support/ports.js';
import path from 'node:path';
import pg from 'pg';
import { readEnvFile } from '../../src/cli/services.command.js';
import { migrate, REPO_ROOT } from '../../src/migrate/migrator.js';
import { loadConfig } from '../../src/shared/config.js';
import { createPool } from '../../src/shared/postgres.js';
import { measureProcess } from '../lib/process-sampler.js';
import { machineDescription, markdownTable, writeResults } from '../lib/results.js';
import { LatencyRecorder, round } from '../lib/stats.js';

const PRODUCTS = 10_000;
const REVIEWS = 100_000;
const WARMUP_SECONDS = 3;
const OPEN_LOOP_RATE = 1_000;
const OPEN_LOOP_SECONDS = 15;
const SATURATION_SECONDS = 10;
const SATURATION_CONCURRENCY = 64;

const env = { ...readEnvFile(), ...process.env };
/** Node/V8 flags for the service process only (not this load generator), e.g. `--max-semi-space-size=4`. */
const SERVICE_NODE_OPTIONS = process.env.QUERY_NODE_ARGS ?? '';
const config = loadConfig(['LOCUS_READ_DB_URL', 'LOCUS_READ_REPLICA_URL'], env);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string) =>
  console.log(`[query bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

async function createDatabase(): Promise<{ name: string; primaryUrl: string; replicaUrl: string }> {
  const name = `bench_query_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: config.LOCUS_READ_DB_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    name,
    primaryUrl: withDatabase(config.LOCUS_READ_DB_URL, name),
    replicaUrl: withDatabase(config.LOCUS_READ_REPLICA_URL, name),
  };
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: config.LOCUS_READ_DB_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

/** Seeds the views set-wise on the primary, then waits until the replica has replayed it. */
async function seed(primaryUrl: string, replicaUrl: string): Promise<string[]> {
  const pool = createPool(primaryUrl, { applicationName: 'locus-bench-query', max: 1 });
  await migrate(pool, 'readmodel');
  await pool.query(`INSERT INTO category_view (id, name, version, created_at, updated_at)
    SELECT gen_random_uuid(), 'Category ' || g, 1, now(), now() FROM generate_series(1, 50) g`);
  await pool.query(
    `WITH categories AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(name ORDER BY id) AS names FROM category_view)
     INSERT INTO product_summary (id, sku, name, description, category_id, category_name, price_amount, price_currency,
       attributes, created_at, updated_at, version)
     SELECT gen_random_uuid(), 'SKU-' || g, 'Product ' || g, 'A product of the query benchmark',
            c.ids[1 + g % 50], c.names[1 + g % 50], (random() * 20000)::int, 'EUR', '{"colour": "red"}',
            now() - g * interval '1 minute', now(), 1
     FROM generate_series(1, $1::int) g, categories c`,
    [PRODUCTS],
  );
  await pool.query(
    `WITH products AS (SELECT array_agg(id ORDER BY id) AS ids FROM product_summary)
     INSERT INTO review_view (id, product_id, author, rating, title, body, created_at, updated_at, version)
     SELECT gen_random_uuid(), p.ids[1 + g % $2::int], 'author ' || (g % 1000), 1 + (g % 5), 'title', 'body',
            now() - (g % 80) * interval '1 day', now(), 1
     FROM generate_series(1, $1::int) g, products p`,
    [REVIEWS, PRODUCTS],
  );
  await pool.query(`UPDATE product_summary p SET review_count = s.n, rating_sum = s.s, average_rating = round(s.s::numeric / s.n, 4)
    FROM (SELECT product_id, count(*) n, sum(rating) s FROM review_view GROUP BY product_id) s WHERE s.product_id = p.id`);
  await pool.query('ANALYZE');
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM product_summary');
  const { rows: lsn } = await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  await pool.end();
  const replica = new pg.Client({ connectionString: replicaUrl });
  for (let attempt = 0; ; attempt++) {
    try {
      await replica.connect();
      break;
    } catch (error) {
      if (attempt > 150) throw error;
      await sleep(100);
    }
  }
  for (;;) {
    const { rows: done } = await replica.query<{ ok: boolean }>(
      'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
      [lsn[0]!.lsn],
    );
    if (done[0]?.ok) break;
    await sleep(20);
  }
  await replica.end();
  return rows.map((row) => row.id);
}

async function startQueryService(
  primaryUrl: string,
  replicaUrl: string,
  port: number,
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [...SERVICE_NODE_OPTIONS.split(' ').filter(Boolean), path.join(REPO_ROOT, 'bin/locus.js'), 'query'],
    {
      env: {
        ...env,
        LOCUS_READ_DB_URL: primaryUrl,
        LOCUS_READ_REPLICA_URL: replicaUrl,
        LOCUS_QUERY_PORT: String(port),
        LOCUS_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      if (response.ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('the query service did not become healthy');
}

/** GET over a keep-alive agent; resolves after the whole body arrived, rejects on non-200. */
function getter(port: number, sockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  return (pathname: string) =>
    new Promise<void>((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port, path: pathname, agent }, (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`status ${response.statusCode}`)),
        );
      });
      request.on('error', reject);
    });
}

/**
 * Open loop: sends at a fixed rate whatever the answers do. Latency counts from the intended send time
 * when the send was late (coordinated omission corrected), from the actual send when a timer fired
 * early — never negative, never flattered.
 */
async function openLoop(rate: number, seconds: number, operation: () => Promise<void>) {
  const recorder = new LatencyRecorder();
  const interval = 1000 / rate;
  const total = Math.floor(seconds * rate);
  const started = performance.now();
  let errors = 0;
  const pending = new Set<Promise<void>>();
  for (let i = 0; i < total; i++) {
    const intended = started + i * interval;
    const wait = intended - performance.now();
    if (wait > 1) await sleep(wait);
    const from = Math.min(intended, performance.now());
    const call: Promise<void> = operation()
      .then(() => recorder.record(performance.now() - from))
      .catch(() => {
        errors += 1;
      })
      .finally(() => pending.delete(call));
    pending.add(call);
    if (i > 0 && i % (rate * 5) === 0) log(`  open loop: ${i} sent`);
  }
  await Promise.all(pending);
  return {
    sent: total,
    errors,
    achievedRate: total / ((performance.now() - started) / 1000),
    latency: recorder.summary(),
  };
}

async function closedLoop(
  get: (path: string) => Promise<void>,
  ids: string[],
  seconds: number,
  concurrency: number,
): Promise<{
  requests: number;
  errors: number;
  perSecond: number;
  latency: ReturnType<LatencyRecorder['summary']>;
}> {
  const recorder = new LatencyRecorder();
  const ends = performance.now() + seconds * 1000;
  let requests = 0;
  let errors = 0;
  const worker = async (offset: number) => {
    let i = offset;
    while (performance.now() < ends) {
      const started = performance.now();
      try {
        await get(`/products/${ids[i % ids.length]}`);
        recorder.record(performance.now() - started);
        requests += 1;
      } catch {
        errors += 1;
      }
      i += concurrency;
    }
  };
  const started = performance.now();
  const progress = setInterval(() => log(`  saturation: ${requests} requests so far`), 2_000);
  await Promise.all(Array.from({ length: concurrency }, (_, offset) => worker(offset)));
  clearInterval(progress);
  return {
    requests,
    errors,
    perSecond: requests / ((performance.now() - started) / 1000),
    latency: recorder.summary(),
  };
}

async function main(): Promise<void> {
  const database = await createDatabase();
  let child: ChildProcess | undefined;
  try {
    log(`seeding ${PRODUCTS} products and ${REVIEWS} reviews in ${database.name}`);
    const ids = await seed(database.primaryUrl, database.replicaUrl);
    const port = await freePort();
    child = await startQueryService(database.primaryUrl, database.replicaUrl, port);
    const idleRss = rssMb(child.pid!);
    log(`query service pid ${child.pid} on port ${port}, idle RSS ${round(idleRss)} MB`);
    const get = getter(port, SATURATION_CONCURRENCY);
    const randomId = () => ids[Math.floor(Math.random() * ids.length)]!;

    log(`warm-up ${WARMUP_SECONDS} s`);
    await openLoop(500, WARMUP_SECONDS, () => get(`/products/${randomId()}`));
    // Control: the same lookups straight on the replica (no HTTP, no query service) at the same rate,
    // so machine noise (shared cores) can be told apart from the service's own cost.
    const direct = createPool(database.replicaUrl, { applicationName: 'locus-bench-direct', max: 20 });
    log(`control: direct SQL on the replica, ${OPEN_LOOP_RATE}/s for ${OPEN_LOOP_SECONDS} s`);
    const directResult = await openLoop(OPEN_LOOP_RATE, OPEN_LOOP_SECONDS, async () => {
      await direct.query({
        name: 'bench_find',
        text: 'SELECT * FROM product_summary WHERE id = $1',
        values: [randomId()],
      });
    });
    await direct.end();
    log(`open loop: ${OPEN_LOOP_RATE} req/s for ${OPEN_LOOP_SECONDS} s`);
    const openPhase = await measureProcess(child.pid!, () =>
      openLoop(OPEN_LOOP_RATE, OPEN_LOOP_SECONDS, () => get(`/products/${randomId()}`)),
    );
    log(`saturation: ${SATURATION_CONCURRENCY} in flight for ${SATURATION_SECONDS} s`);
    const saturationPhase = await measureProcess(child.pid!, () =>
      closedLoop(get, ids, SATURATION_SECONDS, SATURATION_CONCURRENCY),
    );
    const openLoopResult = openPhase.result;
    const saturation = saturationPhase.result;
    const usage = {
      peakRssMb: Math.max(openPhase.usage.peakRssMb, saturationPhase.usage.peakRssMb),
      openLoopPeakRssMb: openPhase.usage.peakRssMb,
      cpuSeconds: openPhase.usage.cpuSeconds + saturationPhase.usage.cpuSeconds,
    };
    const backend = await fetch(`http://127.0.0.1:${port}/products/${ids[0]}`);
    const summary = {
      benchmark: 'query',
      machine: machineDescription(),
      note: 'load generator and query service share the machine (and its cores) with the three PostgreSQL servers',
      dataset: { products: PRODUCTS, reviews: REVIEWS },
      servedBy: backend.headers.get('locus-backend'),
      pointLookupOpenLoop: {
        targetRate: OPEN_LOOP_RATE,
        achievedRate: round(openLoopResult.achievedRate),
        sent: openLoopResult.sent,
        errors: openLoopResult.errors,
        latencyMs: openLoopResult.latency,
      },
      controlDirectSqlOpenLoop: {
        achievedRate: round(directResult.achievedRate),
        latencyMs: directResult.latency,
      },
      saturation: {
        concurrency: SATURATION_CONCURRENCY,
        requestsPerSecond: round(saturation.perSecond),
        requests: saturation.requests,
        errors: saturation.errors,
        latencyMs: saturation.latency,
      },
      queryService: {
        nodeFlags: SERVICE_NODE_OPTIONS,
        idleRssMb: round(idleRss),
        openLoopPeakRssMb: round(usage.openLoopPeakRssMb),
        peakRssMb: round(usage.peakRssMb),
        cpuSeconds: round(usage.cpuSeconds),
      },
      targets: { p99Ms: 10, saturationRps: 5_000, rssMb: 200 },
    };
    const table = markdownTable([
      { measure: 'point lookup p50 @1k req/s (ms)', value: round(openLoopResult.latency.p50, 3), target: '' },
      {
        measure: 'point lookup p99 @1k req/s (ms)',
        value: round(openLoopResult.latency.p99),
        target: '<= 10',
      },
      {
        measure: 'control: direct SQL on the replica p99 @1k/s (ms)',
        value: round(directResult.latency.p99),
        target: '',
      },
      { measure: 'open-loop errors', value: openLoopResult.errors, target: '0' },
      {
        measure: 'saturation (req/s, single-row JSON)',
        value: round(saturation.perSecond),
        target: '>= 5000',
      },
      { measure: 'saturation p99 (ms)', value: round(saturation.latency.p99), target: '' },
      { measure: 'query service idle RSS (MB)', value: round(idleRss), target: '' },
      {
        measure: 'query service peak RSS at 1k req/s (MB)',
        value: round(usage.openLoopPeakRssMb),
        target: '<= 200',
      },
      {
        measure: 'query service peak RSS at saturation (MB)',
        value: round(usage.peakRssMb),
        target: '<= 200',
      },
    ]);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const written = await writeResults(`query-${stamp}`, {
      '.json': `${JSON.stringify(summary, null, 2)}\n`,
      '.md': `# Query service benchmark\n\n${summary.machine}; service node flags: \`${SERVICE_NODE_OPTIONS || '(none)'}\`\n\n${table}`,
    });
    console.log(`\n${table}`);
    log(`wrote ${written.join(', ')}`);
  } finally {
    child?.kill('SIGTERM');
    await sleep(300);
    await dropDatabase(database.name).catch((error: unknown) =>
      log(`could not drop ${database.name}: ${String(error)}`),
    );
  }
}

await main();
