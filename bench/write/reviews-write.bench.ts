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
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { freePort } from '../../test/support/ports.js';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import Fastify from 'fastify';
import { build } from 'hdr-histogram-js';
import { MongoClient, type Db } from 'mongodb';
import { readEnvFile } from '../../src/cli/services.command.js';
import { topicNames } from '../../src/contracts/topics.js';
import { createBroker } from '../../src/messaging/kafka.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { toMessage } from '../../src/relay/relay.js';
import { ReviewOutboxSource } from '../../src/reviews/review-outbox.source.js';
import { ensureReviewIndexes, reviewCollections } from '../../src/reviews/review.model.js';
import { createReviewService } from '../../src/reviews/review.service.js';
import { systemClock, uuidGenerator } from '../../src/shared/clock.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';

/** Starts `locus reviews` and waits until its /health answers 200. */
async function startReviewsProcess(env: NodeJS.ProcessEnv, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'reviews'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`locus reviews exited with ${child.exitCode}`);
    const healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return child;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error('locus reviews did not become healthy within 30 s');
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

async function main(): Promise<void> {
  if (process.argv.includes('--backlog')) return backlogOnly(argument('backlog', 20_000));
  const seconds = argument('seconds', 20);
  const concurrency = argument('concurrency', 32);
  const patchShare = Math.min(argument('patch-share', 0.5), 1);
  const products = 200;
  const env = { ...readEnvFile(), ...process.env };
  const config = loadConfig(['LOCUS_MONGO_URL', 'LOCUS_KAFKA_BROKERS'], env);

  const databaseName = `bench_reviews_${Date.now().toString(36)}`;
  const mongoUrl = new URL(config.LOCUS_MONGO_URL);
  mongoUrl.pathname = `/${databaseName}`;
  const client = await new MongoClient(mongoUrl.toString(), { maxPoolSize: 16 }).connect();
  const db = client.db(databaseName);

  const catalog = Fastify();
  const productIds = Array.from({ length: products }, () => randomUUID());
  const known = new Set<string>(productIds);
  catalog.get<{ Params: { id: string } }>('/products/:id', async (request, reply) =>
    known.has(request.params.id) ? { id: request.params.id } : reply.code(404).send({}),
  );
  const catalogUrl = await catalog.listen({ port: 0, host: '127.0.0.1' });

  const port = await freePort();
  const service = await startReviewsProcess(
    {
      ...env,
      LOCUS_MONGO_URL: mongoUrl.toString(),
      LOCUS_CATALOG_URL: catalogUrl,
      LOCUS_REVIEWS_PORT: String(port),
      LOCUS_LOG_LEVEL: 'warn',
    },
    port,
  );
  const base = `http://127.0.0.1:${port}`;

  const latency = { create: build(), patch: build() };
  const counts = { create: 0, patch: 0, errors: 0 };
  const errorCodes: Record<string, number> = {};
  const bar = new SingleBar(
    { format: 'reviews writes |{bar}| {value}/{total} s | {writes} writes, {rate}/s' },
    Presets.shades_classic,
  );
  bar.start(seconds, 0, { writes: 0, rate: 0 });
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const ticker = setInterval(() => {
    const elapsed = (performance.now() - started) / 1000;
    const writes = counts.create + counts.patch;
    bar.update(Math.min(Math.floor(elapsed), seconds), { writes, rate: Math.round(writes / elapsed) });
  }, 500);

  const worker = async (index: number) => {
    let mine: { id: string; version: number } | undefined;
    let n = 0;
    while (performance.now() < deadline) {
      n += 1;
      const kind = mine && Math.random() < patchShare ? 'patch' : 'create';
      const begin = performance.now();
      const response =
        kind === 'create'
          ? await fetch(`${base}/products/${productIds[(index * 7919 + n) % products]}/reviews`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
              body: JSON.stringify({
                author: `w${index}`,
                rating: 1 + (n % 5),
                title: `t${n}`,
                body: 'bench '.repeat(20),
              }),
            })
          : await fetch(`${base}/reviews/${mine!.id}`, {
              method: 'PATCH',
              headers: { 'content-type': 'application/json', 'if-match': `"${mine!.version}"` },
              body: JSON.stringify({ rating: 1 + (n % 5), title: `edit ${n}` }),
            });
      const body = (await response.json()) as { id?: string; version?: number; code?: string };
      const micros = Math.round((performance.now() - begin) * 1000);
      if (response.ok && body.id && body.version) {
        latency[kind].recordValue(micros);
        counts[kind] += 1;
        mine = { id: body.id, version: body.version };
      } else {
        counts.errors += 1;
        errorCodes[body.code ?? String(response.status)] =
          (errorCodes[body.code ?? String(response.status)] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  clearInterval(ticker);
  const elapsedSeconds = (performance.now() - started) / 1000;
  bar.update(seconds, {
    writes: counts.create + counts.patch,
    rate: Math.round((counts.create + counts.patch) / elapsedSeconds),
  });
  bar.stop();
  // Graceful stop of the real process (runUntilSignal): it must exit on its own.
  service.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((resolve) => service.once('exit', resolve));

  const { events, reviews: reviewDocs } = reviewCollections(db);
  const [eventCount, reviewCount] = await Promise.all([events.countDocuments(), reviewDocs.countDocuments()]);
  const summary = (h: ReturnType<typeof build>) => ({
    count: h.totalCount,
    p50ms: h.getValueAtPercentile(50) / 1000,
    p95ms: h.getValueAtPercentile(95) / 1000,
    p99ms: h.getValueAtPercentile(99) / 1000,
    maxMs: h.maxValue / 1000,
  });
  const result = {
    benchmark: 'reviews-write',
    at: new Date().toISOString(),
    store: (await db
      .admin()
      .command({ buildInfo: 1 })
      .catch(() => ({}))) as { version?: string },
    settings: { seconds, concurrency, patchShare, products },
    elapsedSeconds: Number(elapsedSeconds.toFixed(2)),
    writes: counts.create + counts.patch,
    writesPerSecond: Number(((counts.create + counts.patch) / elapsedSeconds).toFixed(1)),
    creates: summary(latency.create),
    patches: summary(latency.patch),
    errors: counts.errors,
    errorCodes,
    // Each accepted write recorded exactly one event: the check that the numbers are real writes.
    eventsRecorded: eventCount,
    reviewDocuments: reviewCount,
    serviceExitCode: exitCode,
    relay: await measureRelay(db, config.LOCUS_KAFKA_BROKERS, eventCount),
  };
  result.store = { version: result.store.version };
  const dir = path.join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `reviews-write-${result.at.replaceAll(':', '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${path.relative(process.cwd(), file)}`);

  await catalog.close();
  await db.dropDatabase();
  await client.close();
  if (eventCount !== result.writes) {
    console.error(`events recorded (${eventCount}) differ from accepted writes (${result.writes})`);
    process.exitCode = 1;
  }
}

/** `--backlog N`: N events recorded in-process through the service, then the relay drain alone. */
async function backlogOnly(backlog: number): Promise<void> {
  const env = { ...readEnvFile(), ...process.env };
  const config = loadConfig(['LOCUS_MONGO_URL', 'LOCUS_KAFKA_BROKERS'], env);
  const databaseName = `bench_backlog_${Date.now().toString(36)}`;
  const mongoUrl = new URL(config.LOCUS_MONGO_URL);
  mongoUrl.pathname = `/${databaseName}`;
  const client = await new MongoClient(mongoUrl.toString(), { maxPoolSize: 32 }).connect();
  const db = client.db(databaseName);
  try {
    await ensureReviewIndexes(db);
    const reviews = createReviewService({
      db,
      clock: systemClock,
      newId: uuidGenerator,
      products: { assertExists: async () => undefined },
    });
    const productIds = Array.from({ length: 200 }, () => randomUUID());
    const creates = Math.ceil(backlog / 2);
    const bar = new SingleBar({ format: 'seeding |{bar}| {value}/{total} events' }, Presets.shades_classic);
    bar.start(backlog, 0);
    const seedStarted = performance.now();
    let next = 0;
    const created: string[] = [];
    const worker = async (upTo: number) => {
      for (let n = next++; n < upTo; n = next++) {
        if (n < creates) {
          const { review } = await reviews.create(productIds[n % productIds.length]!, {
            author: `a${n}`,
            rating: 1 + (n % 5),
            title: `t${n}`,
            body: 'bench '.repeat(20),
          });
          created.push(review.id);
        } else {
          await reviews.update(created[(n - creates) % created.length]!, { title: `edit ${n}` });
        }
        bar.increment();
      }
    };
    // Creates first (all of them), then the edits, so an edit always finds its review.
    await Promise.all(Array.from({ length: 32 }, () => worker(creates)));
    next = creates;
    await Promise.all(Array.from({ length: 32 }, () => worker(backlog)));
    bar.stop();
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const eventCount = await reviewCollections(db).events.countDocuments();
    const result = {
      benchmark: 'reviews-relay-backlog',
      at: new Date().toISOString(),
      store: (
        (await db
          .admin()
          .command({ buildInfo: 1 })
          .catch(() => ({}))) as { version?: string }
      ).version,
      seeded: { events: eventCount, seconds: Number(seedSeconds.toFixed(1)) },
      relay: await measureRelay(db, config.LOCUS_KAFKA_BROKERS, eventCount),
    };
    const dir = path.join(import.meta.dirname, '..', 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `reviews-relay-backlog-${result.at.replaceAll(':', '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
    console.log(`written to ${path.relative(process.cwd(), file)}`);
    if (result.relay.published < eventCount) process.exitCode = 1;
  } finally {
    await db.dropDatabase();
    await client.close();
  }
}

/** Drains the backlog the writes left through ReviewOutboxSource into a topic of its own: events/s. */
async function measureRelay(db: Db, brokers: string, backlog: number) {
  const logger = createLogger('reviews-bench-relay', 'warn');
  const prefix = `bench_${Date.now().toString(36)}.`;
  const topic = topicNames(prefix).reviews;
  const broker = createBroker({ brokers, clientId: 'reviews-bench', logger });
  await broker.ensureTopics([{ topic, partitions: 6 }]);
  const producer = await broker.producer();
  const source = new ReviewOutboxSource(db, { topicPrefix: prefix });
  const batchSize = 500;
  const started = performance.now();
  let published = 0;
  for (let n = 1; n > 0; published += n) {
    n = await source.publishBatch(batchSize, (batch) => producer.send(batch.map(toMessage)));
  }
  const seconds = (performance.now() - started) / 1000;
  await source.close();
  await producer.close();
  await broker.deleteTopics([topic]);
  await broker.close();
  return {
    backlog,
    published,
    batchSize,
    seconds: Number(seconds.toFixed(2)),
    eventsPerSecond: Number((published / seconds).toFixed(1)),
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
