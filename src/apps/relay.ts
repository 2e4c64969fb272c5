import { topicNames, topicSpecs } from '../contracts/topics.js';
import { createBroker } from '../messaging/kafka.js';
import { loadConfig, portOf, positiveOf } from '../shared/config.js';
import { createHttpServer } from '../shared/http-server.js';
import { createLogger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { runUntilSignal } from '../shared/process-runner.js';
import type { OutboxSource } from '../relay/outbox-source.js';
import { PostgresOutboxSource } from '../relay/postgres-outbox.source.js';
import { createRelayMetrics } from '../relay/relay.metrics.js';
import { runRelay } from '../relay/relay.js';
import { reviewsOutboxSource } from '../reviews/review-outbox.relay.js';

/** A relay that failed this many batches in a row reports itself unhealthy. */
const UNHEALTHY_AFTER_FAILURES = 5;

/**
 * Composition root of the relay process (port LOCUS_RELAY_PORT, default 8084: /health, /metrics).
 * Ensures the topics exist, then runs one relay loop per outbox source, all sharing one idempotent
 * producer. Several relay processes may run at once (see PostgresOutboxSource).
 */
export async function main(): Promise<void> {
  const config = loadConfig([
    'LOCUS_CATALOG_DB_URL',
    'LOCUS_MONGO_URL',
    'LOCUS_KAFKA_BROKERS',
    'LOCUS_TOPIC_PREFIX',
    'LOCUS_RELAY_PORT',
    'LOCUS_HOST',
    'LOCUS_LOG_LEVEL',
    'LOCUS_RELAY_BATCH_SIZE',
    'LOCUS_OUTBOX_RETENTION_HOURS',
  ]);
  const logger = createLogger('relay', config.LOCUS_LOG_LEVEL);
  const batchSize = positiveOf(config, 'LOCUS_RELAY_BATCH_SIZE');
  const retentionMs = positiveOf(config, 'LOCUS_OUTBOX_RETENTION_HOURS', 'number') * 3600_000;

  await runUntilSignal('relay', logger, async () => {
    const broker = createBroker({ brokers: config.LOCUS_KAFKA_BROKERS, clientId: 'locus-relay', logger });
    await broker.ensureTopics(topicSpecs(topicNames(config.LOCUS_TOPIC_PREFIX)));
    const producer = await broker.producer();

    const sources: OutboxSource[] = [new PostgresOutboxSource({ url: config.LOCUS_CATALOG_DB_URL })];
    sources.push(await reviewsOutboxSource(logger));

    const metrics = createMetricsRegistry('relay');
    const relayMetrics = createRelayMetrics(
      metrics,
      () =>
        new Map(sources.flatMap((s) => (s.pendingCount ? [[s.name, () => s.pendingCount!()] as const] : []))),
    );
    const relays = sources.map((source) =>
      runRelay(source, producer, { logger, metrics: relayMetrics, batchSize, retentionMs }),
    );

    const app = await createHttpServer({
      name: 'relay',
      description: 'Publishes the outboxes of the catalog and reviews stores to Kafka',
      logger,
      metrics,
      healthChecks: relays.map((relay) => ({
        name: `relay-${relay.status().source}`,
        async check() {
          const status = relay.status();
          if (status.consecutiveFailures >= UNHEALTHY_AFTER_FAILURES)
            throw new Error(`${status.consecutiveFailures} failed batches in a row: ${status.lastError}`);
          return status.lastBatchAt ? `last batch ${status.lastBatchAt.toISOString()}` : 'starting';
        },
      })),
    });
    await app.listen({ port: portOf(config, 'LOCUS_RELAY_PORT'), host: config.LOCUS_HOST });

    return {
      async close() {
        await app.close();
        await Promise.all(relays.map((relay) => relay.stop()));
        await Promise.all(sources.map((source) => source.close()));
        await producer.close();
        await broker.close();
      },
    };
  });
}
