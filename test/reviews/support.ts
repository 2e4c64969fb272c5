import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { MongoClient, type Db } from 'mongodb';
import { createCatalogDirectory, type CatalogDirectoryOptions } from '../../src/reviews/product-directory.js';
import { ensureReviewIndexes } from '../../src/reviews/review.model.js';
import { createReviewService, type ReviewService } from '../../src/reviews/review.service.js';
import { buildReviewsServer } from '../../src/reviews/reviews.server.js';
import { systemClock, uuidGenerator } from '../../src/shared/clock.js';
import type { HttpServer } from '../../src/shared/http-server.js';
import { createLogger } from '../../src/shared/logger.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { sendingDevToken } from '../support/auth.js';
import { uniqueMongoUrl } from '../../testkit/isolation.js';

/**
 * A stand-in for the catalog SERVICE's HTTP API (`GET /products/:id`: 200 when known, 404 otherwise),
 * a real Fastify server on a free port. It can be told to fail (500) or to hang, or be closed.
 */
export interface FakeCatalog {
  url: string;
  known: Set<string>;
  mode: 'ok' | 'fail' | 'hang';
  /** Answer 500 to this many calls from now, then follow `mode`: a deterministic transient failure. */
  failNext: number;
  calls: number;
  /** The Authorization header of the last call, to check the service token travels. */
  authorization?: string;
  close(): Promise<void>;
}

export async function startFakeCatalog(): Promise<FakeCatalog> {
  const app: FastifyInstance = Fastify();
  const fake = {
    url: '',
    known: new Set<string>(),
    mode: 'ok' as FakeCatalog['mode'],
    failNext: 0,
    calls: 0,
    authorization: undefined as string | undefined,
    close: () => app.close(),
  };
  app.get<{ Params: { id: string } }>('/products/:id', async (request, reply) => {
    fake.calls += 1;
    fake.authorization = request.headers.authorization;
    if (fake.failNext > 0) {
      fake.failNext -= 1;
      return reply.code(500).send({ code: 'LOCUS_INTERNAL' });
    }
    if (fake.mode === 'fail') return reply.code(500).send({ code: 'LOCUS_INTERNAL' });
    if (fake.mode === 'hang') await sleep(5_000);
    if (!fake.known.has(request.params.id)) return reply.code(404).send({ code: 'LOCUS_PRODUCT_NOT_FOUND' });
    return { id: request.params.id, version: 1 };
  });
  fake.url = await app.listen({ port: 0, host: '127.0.0.1' });
  return fake;
}

export interface ReviewsFixture {
  db: Db;
  client: MongoClient;
  catalog: FakeCatalog;
  reviews: ReviewService;
  app: HttpServer;
  /** A product the fake catalog knows. */
  newProduct(): string;
  close(): Promise<void>;
}

/** A reviews service over a database of its own, with a fake catalog; `close` drops the database. */
export async function startReviewsFixture(
  directory: Partial<CatalogDirectoryOptions> = {},
): Promise<ReviewsFixture> {
  const { url, database } = uniqueMongoUrl();
  const client = await new MongoClient(url).connect();
  const db = client.db(database);
  await ensureReviewIndexes(db);
  const catalog = await startFakeCatalog();
  const reviews = createReviewService({
    db,
    clock: systemClock,
    newId: uuidGenerator,
    products: createCatalogDirectory({
      baseUrl: catalog.url,
      clock: systemClock,
      cacheTtlMs: 0,
      // Tests that are not about the catalog check must not fail because a loaded machine made the
      // stand-in catalog (in this same process) slow: a generous timeout, a breaker that stays shut.
      timeoutMs: 10_000,
      breakerThreshold: 1_000,
      ...directory,
    }),
  });
  const app = await buildReviewsServer({
    db,
    reviews,
    logger: createLogger('reviews-test', 'silent'),
    metrics: createMetricsRegistry('reviews'),
  });
  sendingDevToken(app);
  return {
    db,
    client,
    catalog,
    reviews,
    app,
    newProduct() {
      const id = randomUUID();
      catalog.known.add(id);
      return id;
    },
    async close() {
      await app.close();
      await catalog.close();
      await db.dropDatabase();
      await client.close();
    },
  };
}

export const aReview = { author: 'ada', rating: 4, title: 'Solid', body: 'Does what it says.' };
