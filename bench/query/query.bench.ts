/**
 * Read-side benchmark of the query service (not a test). Runs the query service as a child process
 * (`locus query`) over a fresh read-store database (seeded on the read primary, read on the replica)
 * and measures, over HTTP with keep-alive connections:
 *   1. point lookup `GET /products/{id}` latency at 1,000 req/s, open loop (coordinated omission
 *      corrected: latency counts from the intended send time);
 *   2. saturation: single-row JSON req/s, closed loop with 64 requests in flight;
 *   3. the service's peak RSS while doing both (from /proc).
 * Targets: p99 <= 10 ms at 1k req/s; >= 5,000 req/s saturation; RSS <= 200 MB.
 * Run: `locus bench query -- [options]` (services up, LOCUS_* set or ~/.locus/env; `-- --help` lists
 * the options); set QUERY_NODE_ARGS to pass Node/V8 flags to the service process only.
 * Writes bench/results/query-<time>.json and .md.
 */
import { createPool } from '../../src/shared/postgres.js';
import { freePort } from '../../testkit/ports.js';
import { parseBenchArgs } from '../lib/args.js';
import { runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import { runOpenLoop } from '../lib/open-loop.js';
import { measureProcess, rssMbOf } from '../lib/process-sampler.js';
import { round } from '../lib/stats.js';
import { closedLoop, getter } from './query.load.js';
import { writeReport } from './query.report.js';
import { seedViews } from './query.seed.js';

const options = parseBenchArgs(
  {
    run: 'locus bench query -- [options]',
    summary:
      'Point-lookup latency of the query service at a fixed rate (open loop), its saturation rate and its RSS, over a seeded read store. QUERY_NODE_ARGS: Node flags of the service only.',
  },
  {
    products: { type: 'number', default: 10_000, help: 'products seeded' },
    reviews: { type: 'number', default: 100_000, help: 'reviews seeded' },
    'warmup-seconds': { type: 'number', default: 3, help: 'warm-up at 500 req/s' },
    rate: { type: 'number', default: 1_000, help: 'open-loop rate, req/s' },
    'open-loop-seconds': { type: 'number', default: 15, help: 'length of the open loop (and its control)' },
    'saturation-seconds': { type: 'number', default: 10, help: 'length of the saturation phase' },
    concurrency: { type: 'number', default: 64, help: 'requests in flight at saturation' },
  },
);
/** Node/V8 flags for the service process only (not this load generator), e.g. `--max-semi-space-size=4`. */
const SERVICE_NODE_OPTIONS = process.env.QUERY_NODE_ARGS ?? '';
const log = (message: string) =>
  console.log(`[query bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

/** Fires `operation` at `rate` per second for `seconds`, open loop, logging every 5 s. */
function openLoop(rate: number, seconds: number, operation: () => Promise<void>) {
  return runOpenLoop(rate, seconds * 1000, operation, {
    maxInFlight: Number.POSITIVE_INFINITY,
    onProgress: (i) => {
      if (i > 0 && i % (rate * 5) === 0) log(`  open loop: ${i} sent`);
    },
  });
}

async function queryBench(environment: BenchEnvironment): Promise<void> {
  // ── seed ──
  const database = await environment.database('readmodel');
  log(`seeding ${options.products} products and ${options.reviews} reviews in ${database.name}`);
  const ids = await seedViews(database.url, database.replicaUrl, options);
  const port = await freePort();
  const supervisor = environment.processes({
    ...database.env,
    LOCUS_QUERY_PORT: String(port),
  });
  const nodeArgs = SERVICE_NODE_OPTIONS.split(' ').filter(Boolean);
  await supervisor.start({
    name: 'query',
    args: ['query'],
    nodeArgs,
    healthUrl: `http://127.0.0.1:${port}/health`,
  });
  const pid = supervisor.pid('query')!;
  const idleRssMb = rssMbOf(pid);
  log(`query service pid ${pid} on port ${port}, idle RSS ${round(idleRssMb)} MB`);

  // ── drive ──
  const get = getter(port, options.concurrency);
  const randomId = () => ids[Math.floor(Math.random() * ids.length)]!;
  const lookup = () => get(`/products/${randomId()}`);
  log(`warm-up ${options['warmup-seconds']} s`);
  await openLoop(500, options['warmup-seconds'], lookup);
  // Control: the same lookups straight on the replica (no HTTP, no query service) at the same rate,
  // so machine noise (shared cores) can be told apart from the service's own cost.
  const direct = createPool(database.replicaUrl, { applicationName: 'locus-bench-direct', max: 20 });
  log(`control: direct SQL on the replica, ${options.rate}/s for ${options['open-loop-seconds']} s`);
  const control = await openLoop(options.rate, options['open-loop-seconds'], async () => {
    await direct.query({
      name: 'bench_find',
      text: 'SELECT * FROM product_summary WHERE id = $1',
      values: [randomId()],
    });
  });
  await direct.end();
  log(`open loop: ${options.rate} req/s for ${options['open-loop-seconds']} s`);
  const open = await measureProcess(pid, () => openLoop(options.rate, options['open-loop-seconds'], lookup));
  log(`saturation: ${options.concurrency} in flight for ${options['saturation-seconds']} s`);
  const saturation = await measureProcess(pid, () =>
    closedLoop(get, ids, options['saturation-seconds'], options.concurrency, log),
  );

  // ── report ──
  const backend = await fetch(`http://127.0.0.1:${port}/products/${ids[0]}`);
  const { table, written } = await writeReport({
    dataset: { products: options.products, reviews: options.reviews },
    rate: options.rate,
    concurrency: options.concurrency,
    servedBy: backend.headers.get('locus-backend'),
    nodeFlags: SERVICE_NODE_OPTIONS,
    idleRssMb,
    openLoop: open,
    control,
    saturation,
  });
  console.log(`\n${table}`);
  log(`wrote ${written.join(', ')}`);
}

await runBenchmark('query', queryBench);
