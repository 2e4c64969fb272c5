/**
 * Write throughput of the reviews service over HTTP: `npx tsx bench/write/reviews-write.bench.ts
 * [--seconds 20] [--concurrency 32] [--patch-share 0.5]`. Needs LOCUS_MONGO_URL (load ~/.locus/env).
 *
 * It starts the reviews server in this process on a free port, over a database of its own (dropped at
 * the end), with a small HTTP stand-in for the catalog's `GET /products/{id}` (the product check goes
 * through the real cockatiel policies and the 30 s positive cache, as in production). Workers send
 * writes over keep-alive HTTP: creates (POST, with an Idempotency-Key) and edits (PATCH with If-Match
 * of the worker's own last review, so they never conflict). Every write is the full path: catalog
 * check (cached) or version load, the event insert (commit point), the document update and its check.
 * Results (writes/s, latency percentiles, errors) go to bench/results/reviews-write-<time>.json.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import Fastify from 'fastify';
import { build } from 'hdr-histogram-js';
import { MongoClient } from 'mongodb';
import { createCatalogDirectory } from '../../src/reviews/product-directory.js';
import { ensureReviewIndexes, reviewCollections } from '../../src/reviews/review.model.js';
import { createReviewService } from '../../src/reviews/review.service.js';
import { buildReviewsServer } from '../../src/reviews/reviews.server.js';
import { systemClock, uuidGenerator } from '../../src/shared/clock.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

async function main(): Promise<void> {
  const seconds = argument('seconds', 20);
  const concurrency = argument('concurrency', 32);
  const patchShare = Math.min(argument('patch-share', 0.5), 1);
  const products = 200;
  const { LOCUS_MONGO_URL } = loadConfig(['LOCUS_MONGO_URL']);

  const databaseName = `bench_reviews_${Date.now().toString(36)}`;
  const client = await new MongoClient(LOCUS_MONGO_URL, { maxPoolSize: 64 }).connect();
  const db = client.db(databaseName);
  await ensureReviewIndexes(db);

  const catalog = Fastify();
  const productIds = Array.from({ length: products }, () => randomUUID());
  const known = new Set<string>(productIds);
  catalog.get<{ Params: { id: string } }>('/products/:id', async (request, reply) =>
    known.has(request.params.id) ? { id: request.params.id } : reply.code(404).send({}),
  );
  const catalogUrl = await catalog.listen({ port: 0, host: '127.0.0.1' });

  const reviews = createReviewService({
    db,
    clock: systemClock,
    newId: uuidGenerator,
    products: createCatalogDirectory({ baseUrl: catalogUrl, clock: systemClock }),
  });
  const app = await buildReviewsServer({
    db,
    reviews,
    logger: createLogger('reviews-bench', 'error'),
    metrics: createMetricsRegistry('reviews'),
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });

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
  };
  result.store = { version: result.store.version };
  const dir = path.join(import.meta.dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `reviews-write-${result.at.replaceAll(':', '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${path.relative(process.cwd(), file)}`);

  await app.close();
  await catalog.close();
  await db.dropDatabase();
  await client.close();
  if (eventCount !== result.writes) {
    console.error(`events recorded (${eventCount}) differ from accepted writes (${result.writes})`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
