import { sql } from 'kysely';
import { buildCatalogServer } from '../catalog/catalog.server.js';
import type { CatalogDb } from '../catalog/catalog.tables.js';
import { topicNames } from '../contracts/topics.js';
import { systemClock, uuidGenerator } from '../shared/clock.js';
import { loadConfig, portOf } from '../shared/config.js';
import { closeHttpServer } from '../shared/http-server.js';
import { createLogger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { createKysely, createPool } from '../shared/postgres.js';
import { runUntilSignal } from '../shared/process-runner.js';

/**
 * Composition root of the catalog service (port LOCUS_CATALOG_PORT, default 8081). Its writes only
 * reach Kafka through the relay (`locus relay`), which publishes the outbox.
 */
export async function main(): Promise<void> {
  const config = loadConfig([
    'LOCUS_CATALOG_DB_URL',
    'LOCUS_TOPIC_PREFIX',
    'LOCUS_CATALOG_PORT',
    'LOCUS_HOST',
    'LOCUS_LOG_LEVEL',
  ]);
  const logger = createLogger('catalog', config.LOCUS_LOG_LEVEL);
  await runUntilSignal('catalog', logger, async () => {
    const pool = createPool(config.LOCUS_CATALOG_DB_URL, {
      applicationName: 'locus-catalog',
      max: 20,
      statementTimeoutMs: 10_000,
    });
    const db = createKysely<CatalogDb>(pool);
    const app = await buildCatalogServer({
      db,
      context: { clock: systemClock, newId: uuidGenerator, topics: topicNames(config.LOCUS_TOPIC_PREFIX) },
      logger,
      metrics: createMetricsRegistry('catalog'),
      healthChecks: [{ name: 'catalog-store', check: async () => void (await sql`SELECT 1`.execute(db)) }],
    });
    await app.listen({ port: portOf(config, 'LOCUS_CATALOG_PORT'), host: config.LOCUS_HOST });
    return {
      async close(drainMs) {
        await closeHttpServer(app, drainMs);
        await db.destroy();
      },
    };
  });
}
