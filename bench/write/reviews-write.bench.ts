/**
 * Write-side benchmark of the reviews service (not a test): `npx tsx bench/write/reviews-write.bench.ts
 * [--seconds 20] [--concurrency 32] [--patch-share 0.5]` (services up; LOCUS_* set or ~/.locus/env).
 *
 * 1. writes/s through the reviews service over HTTP: runs `locus reviews` as a child process (the real
 *    composition root) over a database of its own (dropped at the end), with a small HTTP stand-in for
 *    the catalog's `GET /products/{id}` (the product check goes through the real cockatiel policies and
 *    the 30 s positive cache, as in production). Workers send writes over keep-alive HTTP, closed loop:
 *    creates (POST with an Idempotency-Key) and edits (PATCH with If-Match of the worker's own last
 *    review, so they never conflict). Each write is the full path: catalog check (cached) or version
 *    load, the event insert (commit point), the document update and its post-write check.
 * 2. the reviews relay's drain rate: `ReviewOutboxSource` publishing the backlog those writes left to a
 *    topic of its own (batches of 500), events/s.
 *
 * `--backlog N` measures the relay alone on a larger backlog: skips the HTTP phase and records N
 * events in-process through the real write path (`createReviewService`: outbox entry, event, document,
 * confirmation; creates, then edits of those reviews, 32 at a time) with the catalog check stubbed,
 * then drains them as in 2.
 * Results go to bench/results/reviews-write-<time>.json (reviews-relay-backlog-<time>.json with --backlog).
 * `locus bench write -- --help` lists the options.
 */
import { MongoClient, type Db } from 'mongodb';
import { reviewCollections } from '../../src/reviews/review.model.js';
import { freePort } from '../../testkit/ports.js';
import { parseBenchArgs } from '../lib/args.js';
import { runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import { writeResults } from '../lib/results.js';
import { seedBacklog } from './reviews-backlog.js';
import { driveWrites, startReviewsProcess, stubCatalog, type HdrHistogram } from './reviews-http.js';
import { measureRelay, storeVersion } from './reviews-relay.js';

const options = parseBenchArgs(
  {
    run: 'locus bench write -- [options]  (or npx tsx bench/write/reviews-write.bench.ts [options])',
    summary: 'Reviews writes/s over HTTP through `locus reviews`, then the reviews relay’s drain rate.',
  },
  {
    seconds: { type: 'number', default: 20, help: 'length of the HTTP phase' },
    concurrency: { type: 'number', default: 32, help: 'writers in flight' },
    'patch-share': { type: 'number', default: 0.5, help: 'share of edits among the writes (at most 1)' },
    backlog: { type: 'number', help: 'skip HTTP: record this many events in-process, then drain them' },
  },
);
for (const name of ['seconds', 'concurrency', 'patch-share', 'backlog'] as const) {
  const value = options[name];
  if (value !== undefined && !(Number.isFinite(value) && value > 0))
    throw new Error(`--${name} must be a positive number`);
}
const PRODUCTS = 200;

/** A client on a reviews database of the run's own (dropped when the run closes). */
async function reviewsDatabase(environment: BenchEnvironment, maxPoolSize: number) {
  const mongo = environment.mongoDatabase();
  const client = await new MongoClient(mongo.url, { maxPoolSize }).connect();
  environment.defer('close the Mongo client', () => client.close());
  return { url: mongo.url, db: client.db(mongo.database) };
}

async function httpWrites(environment: BenchEnvironment): Promise<void> {
  const { seconds, concurrency } = options;
  const patchShare = Math.min(options['patch-share'], 1);
  const { url, db } = await reviewsDatabase(environment, 16);
  const catalog = await stubCatalog(PRODUCTS);
  environment.defer('close the catalog stand-in', () => catalog.close());
  const port = await freePort();
  const service = await startReviewsProcess(
    {
      ...process.env,
      LOCUS_MONGO_URL: url,
      LOCUS_CATALOG_URL: catalog.url,
      LOCUS_REVIEWS_PORT: String(port),
      LOCUS_LOG_LEVEL: 'warn',
    },
    port,
  );
  environment.defer('stop locus reviews', async () => service.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  const load = await driveWrites({ base, productIds: catalog.productIds, seconds, concurrency, patchShare });
  // Graceful stop of the real process (runUntilSignal): it must exit on its own.
  service.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((resolve) => service.once('exit', resolve));
  await reportHttpWrites(environment, db, {
    settings: { seconds, concurrency, patchShare, products: PRODUCTS },
    load,
    exitCode,
  });
}

async function reportHttpWrites(
  environment: BenchEnvironment,
  db: Db,
  run: {
    settings: Record<string, number>;
    load: Awaited<ReturnType<typeof driveWrites>>;
    exitCode: number | null;
  },
): Promise<void> {
  const { counts, latency, errorCodes, elapsedSeconds } = run.load;
  const { events, reviews: reviewDocs } = reviewCollections(db);
  const [eventCount, reviewCount] = await Promise.all([events.countDocuments(), reviewDocs.countDocuments()]);
  const summary = (h: HdrHistogram) => ({
    count: h.totalCount,
    p50ms: h.getValueAtPercentile(50) / 1000,
    p95ms: h.getValueAtPercentile(95) / 1000,
    p99ms: h.getValueAtPercentile(99) / 1000,
    maxMs: h.maxValue / 1000,
  });
  const writes = counts.create + counts.patch;
  const result = {
    benchmark: 'reviews-write',
    at: new Date().toISOString(),
    store: { version: await storeVersion(db) },
    settings: run.settings,
    elapsedSeconds: Number(elapsedSeconds.toFixed(2)),
    writes,
    writesPerSecond: Number((writes / elapsedSeconds).toFixed(1)),
    creates: summary(latency.create),
    patches: summary(latency.patch),
    errors: counts.errors,
    errorCodes,
    // Each accepted write recorded exactly one event: the check that the numbers are real writes.
    eventsRecorded: eventCount,
    reviewDocuments: reviewCount,
    serviceExitCode: run.exitCode,
    relay: await measureRelay(environment, db, eventCount),
  };
  await writeJson(`reviews-write-${result.at.replaceAll(':', '-')}`, result);
  if (eventCount !== result.writes) {
    console.error(`events recorded (${eventCount}) differ from accepted writes (${result.writes})`);
    process.exitCode = 1;
  }
}

/** `--backlog N`: N events recorded in-process through the service, then the relay drain alone. */
async function backlogOnly(environment: BenchEnvironment, backlog: number): Promise<void> {
  const { db } = await reviewsDatabase(environment, 32);
  const seeded = await seedBacklog(db, backlog);
  const result = {
    benchmark: 'reviews-relay-backlog',
    at: new Date().toISOString(),
    store: await storeVersion(db),
    seeded: { events: seeded.events, seconds: Number(seeded.seconds.toFixed(1)) },
    relay: await measureRelay(environment, db, seeded.events),
  };
  await writeJson(`reviews-relay-backlog-${result.at.replaceAll(':', '-')}`, result);
  if (result.relay.published < seeded.events) process.exitCode = 1;
}

async function writeJson(name: string, result: unknown): Promise<void> {
  const [file] = await writeResults(name, { '.json': `${JSON.stringify(result, null, 2)}\n` });
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${file}`);
}

await runBenchmark('reviews-write', (environment) =>
  options.backlog === undefined ? httpWrites(environment) : backlogOnly(environment, options.backlog),
);
