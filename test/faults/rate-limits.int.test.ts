import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalogServer } from '../../src/catalog/catalog.server.js';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { topicNames } from '../../src/contracts/topics.js';
import { createCatalogDirectory } from '../../src/reviews/product-directory.js';
import { createReviewService } from '../../src/reviews/review.service.js';
import { buildReviewsServer } from '../../src/reviews/reviews.server.js';
import { systemClock, uuidGenerator } from '../../src/shared/clock.js';
import type { HttpServer } from '../../src/shared/http-server.js';
import { createLogger } from '../../src/shared/logger.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import { startAnalyticsFixture, type AnalyticsFixture } from '../query/query.fixtures.js';
import { sendingDevToken } from '../support/auth.js';
import { createTestDatabase, uniqueMongoUrl, uniqueTopicPrefix } from '../../testkit/isolation.js';

type Injected = Awaited<ReturnType<HttpServer['inject']>>;

/** A 429 as every locus service answers it: Retry-After in seconds and the usual error body. */
function expectRateLimited(response: Injected): void {
  expect(response.statusCode, response.body).toBe(429);
  expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  const body = response.json<{ code: string; message: string; details: unknown[] }>();
  expect(body.code).toBe('LOCUS_RATE_LIMITED');
  expect(body.message).toMatch(/per minute/);
  expect(body.details).toEqual([]);
}

/** The OpenAPI document declares the 429 of a limited route. */
async function documented429(app: HttpServer, path: string, method: string): Promise<boolean> {
  const document = (await app.inject({ method: 'GET', url: '/documentation/json' })).json<{
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  }>();
  return document.paths[path]?.[method]?.responses['429'] !== undefined;
}

describe('rate limits per client', () => {
  describe('catalog writes', () => {
    let app: HttpServer;
    let close: () => Promise<void>;

    beforeAll(async () => {
      const database = await createTestDatabase('catalog');
      const pool = createPool(database.url, { applicationName: 'rate-limit-test', max: 4 });
      const db = createKysely<CatalogDb>(pool);
      app = await buildCatalogServer({
        db,
        context: { clock: systemClock, newId: uuidGenerator, topics: topicNames(uniqueTopicPrefix()) },
        logger: createLogger('catalog-test', 'silent'),
        metrics: createMetricsRegistry('catalog-test'),
        writesPerMinute: 2,
      });
      await app.ready();
      sendingDevToken(app);
      close = async () => {
        await app.close();
        await db.destroy();
        await database.drop();
      };
    });

    afterAll(() => close?.());

    it('given a limit of 2 writes a minute, the third write from one client gets 429; reads and other clients go on', async () => {
      const post = (name: string, remoteAddress = '127.0.0.10') =>
        app.inject({ method: 'POST', url: '/categories', payload: { name }, remoteAddress });
      expect((await post('first')).statusCode).toBe(201);
      expect((await post('second')).statusCode).toBe(201);
      const refused = await post('third');
      expectRateLimited(refused);
      const fromElsewhere = await post('from another client', '127.0.0.11');
      expect(fromElsewhere.statusCode, fromElsewhere.body).toBe(201);
      const read = await app.inject({ method: 'GET', url: '/products', remoteAddress: '127.0.0.10' });
      expect(read.statusCode).not.toBe(429);
      expect(await documented429(app, '/categories', 'post')).toBe(true);
      expect(await documented429(app, '/products/{id}', 'delete')).toBe(true);
      expect(await documented429(app, '/categories/{id}', 'get')).toBe(false);
    });
  });

  describe('reviews writes', () => {
    let app: HttpServer;
    let close: () => Promise<void>;

    beforeAll(async () => {
      const { url, database } = uniqueMongoUrl();
      const client = await new MongoClient(url).connect();
      const db = client.db(database);
      const reviews = createReviewService({
        db,
        clock: systemClock,
        newId: uuidGenerator,
        // Nothing here reaches the product check: the refused writes are answered before any handler.
        products: createCatalogDirectory({
          baseUrl: 'http://127.0.0.1:9',
          clock: systemClock,
          cacheTtlMs: 0,
        }),
      });
      app = await buildReviewsServer({
        db,
        reviews,
        logger: createLogger('reviews-test', 'silent'),
        metrics: createMetricsRegistry('reviews-test'),
        writesPerMinute: 2,
      });
      await app.ready();
      sendingDevToken(app);
      close = async () => {
        await app.close();
        await db.dropDatabase();
        await client.close();
      };
    });

    afterAll(() => close?.());

    it('given a limit of 2 writes a minute, the third write from one client gets 429, whatever it sends', async () => {
      const url = `/reviews/${randomUUID()}`;
      // Invalid writes count too: the limit is checked before the body is read.
      for (let i = 0; i < 2; i++) {
        const response = await app.inject({ method: 'DELETE', url, headers: { 'if-match': 'nope' } });
        expect(response.statusCode, response.body).not.toBe(429);
      }
      expectRateLimited(await app.inject({ method: 'DELETE', url, headers: { 'if-match': 'nope' } }));
      expect(await documented429(app, '/products/{productId}/reviews', 'post')).toBe(true);
    });
  });

  describe('query service heavy analytics', () => {
    let fixture: AnalyticsFixture;

    beforeAll(async () => {
      fixture = await startAnalyticsFixture('rate-limit-test', 15, { service: { heavyPerMinute: 3 } });
    });

    afterAll(() => fixture?.close());

    it('given a limit of 3 heavy requests a minute, the fourth gets 429; light reads and other clients go on', async () => {
      const { app } = fixture.service;
      const heavy = (remoteAddress = '127.0.0.20') =>
        app.inject({ method: 'GET', url: '/analytics/rollup?groups=10&strategy=locality', remoteAddress });
      for (let i = 0; i < 3; i++) expect((await heavy()).statusCode).toBe(200);
      expectRateLimited(await heavy());
      expect((await heavy('127.0.0.21')).statusCode).toBe(200);
      const light = await app.inject({
        method: 'GET',
        url: '/products?limit=1',
        remoteAddress: '127.0.0.20',
      });
      expect(light.statusCode).toBe(200);
      expect(await documented429(app, '/analytics/export', 'get')).toBe(true);
      expect(await documented429(app, '/products', 'get')).toBe(false);
    });
  });
});
