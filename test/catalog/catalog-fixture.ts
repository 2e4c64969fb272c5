import type { Kysely } from 'kysely';
import type pg from 'pg';
import { buildCatalogServer } from '../../src/catalog/catalog.server.js';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { topicNames, type Topics } from '../../src/contracts/topics.js';
import { uuidGenerator } from '../../src/shared/clock.js';
import type { HttpServer } from '../../src/shared/http-server.js';
import { createLogger } from '../../src/shared/logger.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import { sendingDevToken } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../../testkit/isolation.js';

export interface CatalogFixture {
  database: TestDatabase;
  pool: pg.Pool;
  db: Kysely<CatalogDb>;
  app: HttpServer;
  topics: Topics;
  close(): Promise<void>;
}

/** A catalog server over a fresh catalog database of its own, for one test file. */
export async function startCatalog(topicPrefix: string): Promise<CatalogFixture> {
  const database = await createTestDatabase('catalog');
  const pool = createPool(database.url, { applicationName: 'locus-test-catalog', max: 10 });
  const db = createKysely<CatalogDb>(pool);
  const topics = topicNames(topicPrefix);
  const app = await buildCatalogServer({
    db,
    context: { clock: { now: () => new Date() }, newId: uuidGenerator, topics },
    logger: createLogger('catalog-test', 'silent'),
    metrics: createMetricsRegistry('catalog-test'),
  });
  await app.ready();
  sendingDevToken(app);
  return {
    database,
    pool,
    db,
    app,
    topics,
    async close() {
      await app.close();
      await db.destroy();
      await database.drop();
    },
  };
}

/** Every outbox row, in publish order. */
export async function outboxRows(db: Kysely<CatalogDb>) {
  return db.selectFrom('outbox').selectAll().orderBy('id').execute();
}

export const aProduct = (overrides: Record<string, unknown> = {}) => ({
  sku: `SKU-${Math.random().toString(36).slice(2, 10)}`,
  name: 'Kettle',
  description: 'Boils water',
  price: { amount: 2999, currency: 'EUR' },
  attributes: { colour: 'red' },
  ...overrides,
});
