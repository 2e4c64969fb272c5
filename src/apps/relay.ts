import { topicNames, topicSpecs } from '../contracts/topics.js';
import { createBroker } from '../messaging/kafka.js';
import { kafkaCredentials } from '../messaging/kafka-credentials.js';
import {
  listRelayDeadLetters,
  registerRelayAdminRoutes,
  resolveRelayDeadLetter,
} from '../relay/admin.routes.js';
import type { OutboxSource } from '../relay/outbox-source.js';
import { PostgresOutboxDeadLetters } from '../relay/postgres-dead-letters.js';
import { PostgresOutboxSource } from '../relay/postgres-outbox.source.js';
import type { RelayDeadLetterStore } from '../relay/relay-dead-letters.js';
import { createRelayMetrics } from '../relay/relay.metrics.js';
import { runRelay, type RunningRelay } from '../relay/relay.js';
import { reviewsDeadLetters, reviewsOutboxSource } from '../reviews/review-outbox.relay.js';
import { ADMIN_AUTH, registerAuth } from '../shared/auth.js';
import { loadApiTokens } from '../shared/auth.tokens.js';
import { loadConfig, portOf, positiveOf } from '../shared/config.js';
import { LocusError } from '../shared/errors.js';
import { closeHttpServer, createHttpServer, degraded, type HealthCheck } from '../shared/http-server.js';
import { createLogger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { createPool } from '../shared/postgres.js';
import { runUntilSignal } from '../shared/process-runner.js';

/** A relay that failed this many batches in a row reports itself unhealthy. */
const UNHEALTHY_AFTER_FAILURES = 5;

/**
 * `locus relay [run|dlq]`. `run` (default) is the relay process (port LOCUS_RELAY_PORT, default 8084:
 * /health, /metrics, /admin/dead-letters): it ensures the topics exist, then runs one relay loop per
 * outbox source, all sharing one idempotent producer. Several relay processes may run at once (see
 * PostgresOutboxSource). `dlq list|retry <source> <id>|skip <source> <id>` acts on the relay dead
 * letters without a running relay.
 */
export async function main(action = 'run', args: string[] = []): Promise<void> {
  if (action === 'dlq') return dlqCommand(args);
  if (action !== 'run') {
    throw new LocusError('LOCUS_VALIDATION', `unknown relay action "${action}": use run or dlq`);
  }
  return run();
}

async function run(): Promise<void> {
  const config = loadConfig([
    'LOCUS_CATALOG_RELAY_DB_URL',
    'LOCUS_MONGO_URL',
    'LOCUS_KAFKA_BROKERS',
    'LOCUS_TOPIC_PREFIX',
    'LOCUS_RELAY_PORT',
    'LOCUS_HOST',
    'LOCUS_LOG_LEVEL',
    'LOCUS_RELAY_BATCH_SIZE',
    'LOCUS_OUTBOX_RETENTION_HOURS',
    'LOCUS_RELAY_MAX_REQUEST_BYTES',
  ]);
  const tokens = loadApiTokens();
  const logger = createLogger('relay', config.LOCUS_LOG_LEVEL);
  const batchSize = positiveOf(config, 'LOCUS_RELAY_BATCH_SIZE');
  const retentionMs = positiveOf(config, 'LOCUS_OUTBOX_RETENTION_HOURS', 'number') * 3600_000;
  const credentials = kafkaCredentials('relay');

  await runUntilSignal('relay', logger, async () => {
    const broker = createBroker({
      brokers: config.LOCUS_KAFKA_BROKERS,
      clientId: 'locus-relay',
      logger,
      credentials,
    });
    await broker.ensureTopics(topicSpecs(topicNames(config.LOCUS_TOPIC_PREFIX)));
    const producer = await broker.producer({
      maxRequestBytes: positiveOf(config, 'LOCUS_RELAY_MAX_REQUEST_BYTES'),
    });

    const sources: OutboxSource[] = [new PostgresOutboxSource({ url: config.LOCUS_CATALOG_RELAY_DB_URL })];
    sources.push(await reviewsOutboxSource(logger));

    const metrics = createMetricsRegistry('relay');
    const relayMetrics = createRelayMetrics(
      metrics,
      () =>
        new Map(sources.flatMap((s) => (s.pendingCount ? [[s.name, () => s.pendingCount!()] as const] : []))),
      () => new Map(sources.map((s) => [s.name, () => s.deadLetters.count()] as const)),
    );
    const relays = sources.map((source) =>
      runRelay(source, producer, { logger, metrics: relayMetrics, batchSize, retentionMs }),
    );

    const app = await createHttpServer({
      name: 'relay',
      description: 'Publishes the outboxes of the catalog and reviews stores to Kafka',
      logger,
      metrics,
      healthChecks: relays.map((relay, i) => relayHealth(relay, sources[i]!.deadLetters)),
    });
    await registerAuth(app, tokens, ADMIN_AUTH);
    registerRelayAdminRoutes(app, new Map(sources.map((s) => [s.name, s.deadLetters] as const)));
    await app.listen({ port: portOf(config, 'LOCUS_RELAY_PORT'), host: config.LOCUS_HOST });

    return {
      // A batch whose send kafkajs is still retrying (the broker gone) is abandoned by the stop and
      // stays pending; disconnecting the producer then ends that send.
      async close(drainMs) {
        await closeHttpServer(app, drainMs);
        await Promise.all(relays.map((relay) => relay.stop()));
        await Promise.all(sources.map((source) => source.close()));
        await producer.close();
        await broker.close();
      },
    };
  });
}

/**
 * A relay loop's health: failing after UNHEALTHY_AFTER_FAILURES failed batches in a row (an outage);
 * healthy but "degraded" while its source has dead letters (everything else flows; an operator acts).
 */
function relayHealth(relay: RunningRelay, deadLetters: RelayDeadLetterStore): HealthCheck {
  return {
    name: `relay-${relay.status().source}`,
    async check() {
      const status = relay.status();
      if (status.consecutiveFailures >= UNHEALTHY_AFTER_FAILURES)
        throw new Error(`${status.consecutiveFailures} failed batches in a row: ${status.lastError}`);
      const progress = status.lastBatchAt ? `last batch ${status.lastBatchAt.toISOString()}` : 'starting';
      const parked = await deadLetters.count();
      if (parked === 0) return progress;
      return degraded(
        `degraded: ${parked} dead letter${parked === 1 ? '' : 's'} parked (GET /admin/dead-letters); ${progress}`,
      );
    },
  };
}

/** `locus relay dlq list | retry <source> <id> | skip <source> <id>`. */
async function dlqCommand(args: string[]): Promise<void> {
  const [verb = 'list', source, id] = args;
  const config = loadConfig(['LOCUS_CATALOG_RELAY_DB_URL']);
  const pool = createPool(config.LOCUS_CATALOG_RELAY_DB_URL, { applicationName: 'locus-relay-dlq', max: 2 });
  const reviews = await reviewsDeadLetters().catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });
  const stores = new Map<string, RelayDeadLetterStore>([
    ['catalog', new PostgresOutboxDeadLetters(pool)],
    ['reviews', reviews.store],
  ]);
  try {
    if (verb === 'list') {
      const letters = await listRelayDeadLetters(stores, 1000);
      if (letters.length === 0) console.log('no relay dead letters');
      for (const letter of letters) {
        console.log(
          `${letter.source} ${letter.id}  key ${letter.key}  v${letter.aggregateVersion ?? '?'}  ` +
            `${letter.waiting} waiting  parked ${letter.parkedAt.toISOString()}\n  ${letter.reason}`,
        );
      }
      return;
    }
    if ((verb === 'retry' || verb === 'skip') && source && id) {
      console.log(JSON.stringify(await resolveRelayDeadLetter(stores, source, id, verb)));
      return;
    }
    throw new LocusError(
      'LOCUS_VALIDATION',
      `usage: locus relay dlq list | retry <source> <id> | skip <source> <id> (source: catalog or reviews)`,
    );
  } finally {
    await reviews.close();
    await pool.end();
  }
}
