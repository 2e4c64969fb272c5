import { MongoClient } from 'mongodb';
import { createCatalogDirectory } from '../reviews/product-directory.js';
import { ensureReviewIndexes } from '../reviews/review.model.js';
import { reviewIdempotencyKeyRetention, writeOutcomeRetention } from '../reviews/review.retention.js';
import { createReviewService } from '../reviews/review.service.js';
import { buildReviewsServer } from '../reviews/reviews.server.js';
import { systemClock, uuidGenerator } from '../shared/clock.js';
import { loadApiTokens, serviceToken } from '../shared/auth.tokens.js';
import { loadConfig, portOf, positiveOf } from '../shared/config.js';
import { closeHttpServer } from '../shared/http-server.js';
import { createLogger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { perMinuteOf } from '../shared/rate-limit.js';
import { runUntilSignal } from '../shared/process-runner.js';
import { startRetention } from '../shared/retention.js';

/**
 * Composition root of the reviews service (port LOCUS_REVIEWS_PORT, default 8082): reviews in the
 * MongoDB-wire store at LOCUS_MONGO_URL (its path names the database), product existence asked of the
 * catalog at LOCUS_CATALOG_URL. Indexes are ensured at every start (idempotent). Its events reach
 * Kafka through `locus relay`, which runs `ReviewOutboxSource` over the same database.
 */
export async function main(): Promise<void> {
  const config = loadConfig([
    'LOCUS_MONGO_URL',
    'LOCUS_CATALOG_URL',
    'LOCUS_REVIEWS_PORT',
    'LOCUS_IDEMPOTENCY_RETENTION_HOURS',
    'LOCUS_RETENTION_INTERVAL_SECONDS',
    'LOCUS_HOST',
    'LOCUS_LOG_LEVEL',
    'LOCUS_RATE_LIMIT_WRITES_PER_MINUTE',
  ]);
  const tokens = loadApiTokens();
  const logger = createLogger('reviews', config.LOCUS_LOG_LEVEL);
  await runUntilSignal('reviews', logger, async () => {
    const client = await new MongoClient(config.LOCUS_MONGO_URL, {
      appName: 'locus-reviews',
      maxPoolSize: 50,
    }).connect();
    const db = client.db();
    await ensureReviewIndexes(db);
    const reviews = createReviewService({
      db,
      clock: systemClock,
      newId: uuidGenerator,
      products: createCatalogDirectory({
        baseUrl: config.LOCUS_CATALOG_URL,
        clock: systemClock,
        token: serviceToken(),
      }),
      logger,
    });
    const metrics = createMetricsRegistry('reviews');
    const app = await buildReviewsServer({
      db,
      reviews,
      logger,
      metrics,
      writesPerMinute: perMinuteOf('LOCUS_RATE_LIMIT_WRITES_PER_MINUTE', config),
      tokens,
    });
    await app.listen({ port: portOf(config, 'LOCUS_REVIEWS_PORT'), host: config.LOCUS_HOST });
    const retentionMs = positiveOf(config, 'LOCUS_IDEMPOTENCY_RETENTION_HOURS') * 3_600_000;
    const retention = startRetention(
      [reviewIdempotencyKeyRetention(db, retentionMs), writeOutcomeRetention(db, retentionMs)],
      {
        clock: systemClock,
        logger,
        metrics,
        intervalMs: positiveOf(config, 'LOCUS_RETENTION_INTERVAL_SECONDS') * 1000,
      },
    );
    return {
      async close(drainMs) {
        await closeHttpServer(app, drainMs);
        await retention.stop();
        await client.close();
      },
    };
  });
}
