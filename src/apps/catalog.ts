import { sql } from 'kysely';
import { buildCatalogServer } from '../catalog/catalog.server.js';
import type { CatalogDb } from '../catalog/catalog.tables.js';
import { idempotencyKeyRetention } from '../catalog/idempotency.retention.js';
import { topicNames } from '../contracts/topics.js';
import { systemClock, uuidGenerator } from '../shared/clock.js';
import { loadApiTokens } from '../shared/auth.tokens.js';
import { loadConfig, portOf, positiveOf } from '../shared/config.js';
import { closeHttpServer } from '../shared/http-server.js';
import { createLogger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { createKysely, createPool } from '../shared/postgres.js';
import { perMinuteOf } from '../shared/rate-limit.js';
import { runUntilSignal } from '../shared/process-runner.js';
import { startRetention } from '../shared/retention.js';

/**
 * Composition root of the catalog service (port LOCUS_CATALOG_PORT, default 8081). Its writes only
 * reach Kafka through the relay (`locus relay`), which publishes the outbox.
 */
export async function main(): Promise<void> {
  const config = loadConfig([
    'LOCUS_CATALOG_DB_URL',
    'LOCUS_TOPIC_PREFIX',
    'LOCUS_CATALOG_PORT',
    'LOCUS_IDEMPOTENCY_RETENTION_HOURS',
    'LOCUS_RETENTION_INTERVAL_SECONDS',
    'LOCUS_HOST',
    'LOCUS_LOG_LEVEL',
    'LOCUS_RATE_LIMIT_WRITES_PER_MINUTE',
  ]);
  const tokens = loadApiTokens();
  const logger = createLogger('catalog', config.LOCUS_LOG_LEVEL);
  await runUntilSignal('catalog', logger, async () => {
    const pool = createPool(config.LOCUS_CATALOG_DB_URL, {
      applicationName: 'locus-catalog',
      max: 20,
      statementTimeoutMs: 10_000,
    });
    const db = createKysely<CatalogDb>(pool);
    const metrics = createMetricsRegistry('catalog');
    const app = await buildCatalogServer({
      db,
      context: { clock: systemClock, newId: uuidGenerator, topics: topicNames(config.LOCUS_TOPIC_PREFIX) },
      logger,
      metrics,
      writesPerMinute: perMinuteOf('LOCUS_RATE_LIMIT_WRITES_PER_MINUTE', config),
      tokens,
      healthChecks: [{ name: 'catalog-store', check: async () => void (await sql`SELECT 1`.execute(db)) }],
    });
    await app.listen({ port: portOf(config, 'LOCUS_CATALOG_PORT'), host: config.LOCUS_HOST });
    const retentionMs = positiveOf(config, 'LOCUS_IDEMPOTENCY_RETENTION_HOURS') * 3_600_000;
    const retention = startRetention([idempotencyKeyRetention(db, retentionMs)], {
      clock: systemClock,
      logger,
      metrics,
      intervalMs: positiveOf(config, 'LOCUS_RETENTION_INTERVAL_SECONDS') * 1000,
    });
    return {
      async close(drainMs) {
        await closeHttpServer(app, drainMs);
        await retention.stop();
        await db.destroy();
      },
    };
  });
}
