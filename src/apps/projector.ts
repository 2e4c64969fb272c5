import { allTopicSpecs, deadLetterTopic, topicNames } from '../contracts/topics.js';
import { createBroker } from '../messaging/kafka.js';
import { kafkaCredentials } from '../messaging/kafka-credentials.js';
import { createTopicOffsetsReader } from '../messaging/topic-offsets.js';
import { registerAdminRoutes } from '../projector/admin.routes.js';
import { dlqCommand, rebuildCommand } from '../projector/cli.js';
import { publishDeadLetters } from '../projector/dead-letter.publisher.js';
import { deadLetterRetention } from '../projector/dead-letter.retention.js';
import { createProjectorMetrics } from '../projector/projector.metrics.js';
import { createProjector } from '../projector/projector.js';
import { viewTables } from '../projector/projection.types.js';
import { rebuildInBackground } from '../projector/rebuild.control.js';
import { PROJECTOR_SESSION_SETTINGS } from '../projector/session-settings.js';
import { ADMIN_AUTH, registerAuth } from '../shared/auth.js';
import { loadApiTokens } from '../shared/auth.tokens.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { loadConfig, portOf, positiveOf, type Config } from '../shared/config.js';
import { LocusError } from '../shared/errors.js';
import { closeHttpServer, createHttpServer, type HttpServer } from '../shared/http-server.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { createPool } from '../shared/postgres.js';
import { startRetention } from '../shared/retention.js';
import { runUntilSignal, type RunningProcess } from '../shared/process-runner.js';

/** The settings the projector process reads (tests load the same list). */
export const PROJECTOR_SETTINGS = [
  'LOCUS_READ_DB_URL',
  'LOCUS_KAFKA_BROKERS',
  'LOCUS_TOPIC_PREFIX',
  'LOCUS_PROJECTOR_PORT',
  'LOCUS_PROJECTOR_GROUP',
  'LOCUS_PROJECTOR_STUCK_SECONDS',
  'LOCUS_PROJECTOR_MAX_BATCH_EVENTS',
  'LOCUS_PROJECTOR_IDLE_TX_TIMEOUT_SECONDS',
  'LOCUS_DEAD_LETTER_RETENTION_DAYS',
  'LOCUS_RETENTION_INTERVAL_SECONDS',
  'LOCUS_HOST',
  'LOCUS_LOG_LEVEL',
] as const;
export type ProjectorConfig = Config<(typeof PROJECTOR_SETTINGS)[number]>;

/**
 * `locus projector [run|rebuild|dlq]`. `run` (default) consumes the products, categories and reviews
 * topics into the views and serves /health, /metrics and the admin routes on LOCUS_PROJECTOR_PORT;
 * `rebuild` replays every topic into new tables and swaps them in (works beside a running projector:
 * the swap takes the live consumer's advisory lock); `dlq list|retry <id>|skip <id>`.
 */
export async function main(action = 'run', args: string[] = [], clock: Clock = systemClock): Promise<void> {
  const config = loadConfig(PROJECTOR_SETTINGS);
  const logger = createLogger('projector', config.LOCUS_LOG_LEVEL);
  switch (action) {
    case 'run':
      return runUntilSignal(
        'projector',
        logger,
        async () => (await startProjectorProcess(config, clock, logger)).process,
      );
    case 'rebuild':
      return rebuild(config, clock, logger);
    case 'dlq': {
      const pool = createPool(config.LOCUS_READ_DB_URL, { applicationName: 'locus-projector-dlq', max: 2 });
      try {
        return await dlqCommand({ pool, consumer: config.LOCUS_PROJECTOR_GROUP, tables: viewTables() }, args);
      } finally {
        await pool.end();
      }
    }
    default:
      throw new LocusError(
        'LOCUS_VALIDATION',
        `unknown projector action "${action}": use run, rebuild or dlq`,
      );
  }
}

export interface ProjectorProcess {
  process: RunningProcess;
  app: HttpServer;
}

/** Wires and starts the live projector and its HTTP server; `listen: false` leaves the port to tests. */
export async function startProjectorProcess(
  config: ProjectorConfig,
  clock: Clock,
  logger: Logger,
  options: { listen?: boolean } = {},
): Promise<ProjectorProcess> {
  const topics = topicNames(config.LOCUS_TOPIC_PREFIX);
  const consumer = config.LOCUS_PROJECTOR_GROUP;
  const pool = projectorPool(config, 'locus-projector', 6);
  const { broker, topicOffsets } = projectorKafka(config, 'locus-projector', logger);
  await broker.ensureTopics(allTopicSpecs(config.LOCUS_TOPIC_PREFIX));
  const producer = await broker.producer();
  const registry = createMetricsRegistry('projector');
  const metrics = createProjectorMetrics(registry);
  const tables = viewTables();
  const maxEventsPerTransaction = positiveOf(config, 'LOCUS_PROJECTOR_MAX_BATCH_EVENTS');

  const projector = createProjector({
    pool,
    broker,
    topicOffsets,
    topics,
    groupId: consumer,
    consumer,
    tables,
    logger,
    clock,
    metrics,
    stuckAfterMs: Number(config.LOCUS_PROJECTOR_STUCK_SECONDS) * 1000,
    maxEventsPerTransaction,
    publishDeadLetters: (letters) =>
      publishDeadLetters(producer, deadLetterTopic(config.LOCUS_TOPIC_PREFIX), letters),
  });
  const rebuild = rebuildInBackground({
    pool,
    broker,
    topicOffsets,
    topics,
    liveConsumer: consumer,
    logger,
    clock,
    metrics,
    maxEventsPerTransaction,
  });

  const app = await createHttpServer({
    name: 'projector',
    description: 'Keeps the read store views from the change events; dead letters and rebuilds',
    logger,
    metrics: registry,
    healthChecks: [
      projector.healthCheck,
      { name: 'read-store', check: async () => void (await pool.query('SELECT 1')) },
    ],
  });
  await registerAuth(app, loadApiTokens(), ADMIN_AUTH);
  registerAdminRoutes(app, { pool, consumer, tables, rebuild });
  await projector.start();
  const retentionMs = positiveOf(config, 'LOCUS_DEAD_LETTER_RETENTION_DAYS') * 86_400_000;
  const retention = startRetention([deadLetterRetention(pool, consumer, retentionMs)], {
    clock,
    logger,
    metrics: registry,
    intervalMs: positiveOf(config, 'LOCUS_RETENTION_INTERVAL_SECONDS') * 1000,
  });
  if (options.listen ?? true) {
    await app.listen({ port: portOf(config, 'LOCUS_PROJECTOR_PORT'), host: config.LOCUS_HOST });
  }
  return {
    app,
    process: {
      async close(drainMs) {
        await closeHttpServer(app, drainMs);
        await projector.stop();
        await retention.stop();
        await producer.close();
        await topicOffsets.close();
        await broker.close();
        await pool.end();
      },
    },
  };
}

/** `locus projector rebuild` with its own pool and Kafka clients, closed when it ends. */
async function rebuild(config: ProjectorConfig, clock: Clock, logger: Logger): Promise<void> {
  const pool = projectorPool(config, 'locus-projector-rebuild', 4);
  const { broker, topicOffsets } = projectorKafka(config, 'locus-projector-rebuild', logger);
  try {
    await broker.ensureTopics(allTopicSpecs(config.LOCUS_TOPIC_PREFIX));
    await rebuildCommand({
      pool,
      broker,
      topicOffsets,
      topics: topicNames(config.LOCUS_TOPIC_PREFIX),
      liveConsumer: config.LOCUS_PROJECTOR_GROUP,
      groupId: config.LOCUS_PROJECTOR_GROUP,
      logger,
      clock,
      maxEventsPerTransaction: positiveOf(config, 'LOCUS_PROJECTOR_MAX_BATCH_EVENTS'),
    });
  } finally {
    await topicOffsets.close();
    await broker.close();
    await pool.end();
  }
}

/** A read-store pool for the projector's batches: its session settings, statements pipelined. */
function projectorPool(config: ProjectorConfig, applicationName: string, max: number) {
  return createPool(config.LOCUS_READ_DB_URL, {
    applicationName,
    max,
    sessionSettings: projectorSessionSettings(config),
    // sendTogether: one round trip per batch step, every value bound
    pipeline: true,
  });
}

/** The projector's session settings, with the idle-transaction bound from its config. */
function projectorSessionSettings(config: ProjectorConfig): Record<string, string> {
  const seconds = positiveOf(config, 'LOCUS_PROJECTOR_IDLE_TX_TIMEOUT_SECONDS');
  return { ...PROJECTOR_SESSION_SETTINGS, idle_in_transaction_session_timeout: `${seconds}s` };
}

/** The projector's broker client and offsets reader, logged in as the projector's Kafka user. */
function projectorKafka(config: ProjectorConfig, clientId: string, logger: Logger) {
  const credentials = kafkaCredentials('projector');
  const brokers = config.LOCUS_KAFKA_BROKERS;
  return {
    broker: createBroker({ brokers, clientId, logger, credentials }),
    topicOffsets: createTopicOffsetsReader({ brokers, clientId, credentials }),
  };
}
