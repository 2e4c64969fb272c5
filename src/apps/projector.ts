import { SingleBar, Presets } from 'cli-progress';
import { deadLetterTopic, topicNames, topicSpecs, type Topics } from '../contracts/topics.js';
import { createBroker, type Broker, type MessageProducer } from '../messaging/kafka.js';
import { kafkaCredentials } from '../messaging/kafka-credentials.js';
import { createTopicOffsetsReader, type TopicOffsetsReader } from '../messaging/topic-offsets.js';
import { toDeadLetterBody, registerAdminRoutes, type RebuildControl } from '../projector/admin.routes.js';
import type { NewDeadLetter } from '../projector/dead-letter.repository.js';
import { listDeadLetters } from '../projector/dead-letter.repository.js';
import { deadLetterRetention } from '../projector/dead-letter.retention.js';
import { retryDeadLetter, skipDeadLetter } from '../projector/dead-letter.service.js';
import { createProjectorMetrics, type ProjectorMetrics } from '../projector/projector.metrics.js';
import { createProjector } from '../projector/projector.js';
import { PROJECTOR_SESSION_SETTINGS } from '../projector/session-settings.js';
import { viewTables } from '../projector/projection.types.js';
import { rebuildViews, type RebuildProgress } from '../projector/rebuild.js';
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

export { deadLetterTopic } from '../contracts/topics.js';

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
      return rebuildCommand(config, clock, logger);
    case 'dlq':
      return dlqCommand(config, args);
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
  const pool = createPool(config.LOCUS_READ_DB_URL, {
    applicationName: 'locus-projector',
    max: 6,
    sessionSettings: projectorSessionSettings(config),
    // sendTogether: one round trip per batch step, every value bound
    pipeline: true,
  });
  const { broker, topicOffsets } = projectorKafka(config, 'locus-projector', logger);
  await ensureProjectorTopics(broker, topics, config.LOCUS_TOPIC_PREFIX);
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
    consumer,
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

async function ensureProjectorTopics(broker: Broker, topics: Topics, prefix: string): Promise<void> {
  await broker.ensureTopics([
    ...topicSpecs(topics),
    { topic: deadLetterTopic(prefix), partitions: 1, config: { 'retention.ms': '-1' } },
  ]);
}

/** Copies parked events to the dead-letter topic, with why and where they came from in headers. */
async function publishDeadLetters(
  producer: MessageProducer,
  topic: string,
  letters: NewDeadLetter[],
): Promise<void> {
  await producer.send(
    letters.map((letter) => ({
      topic,
      key: letter.message.key ?? '',
      value: letter.message.value?.toString('utf8') ?? '',
      headers: {
        ...letter.message.headers,
        'locus-dlq-status': letter.status,
        'locus-dlq-code': letter.errorCode,
        'locus-dlq-reason': letter.reason.slice(0, 1000),
        'locus-dlq-origin': `${letter.message.topic}/${letter.message.partition}/${letter.message.offset}`,
      },
    })),
  );
}

function rebuildInBackground(deps: {
  pool: import('pg').Pool;
  broker: Broker;
  topicOffsets: TopicOffsetsReader;
  topics: Topics;
  consumer: string;
  logger: Logger;
  clock: Clock;
  metrics: ProjectorMetrics;
  maxEventsPerTransaction: number;
}): RebuildControl {
  let state: 'idle' | 'running' | 'done' | 'failed' = 'idle';
  let progress: RebuildProgress | undefined;
  let error: string | undefined;
  return {
    start() {
      if (state === 'running') return false;
      state = 'running';
      error = undefined;
      rebuildViews({
        ...deps,
        liveConsumer: deps.consumer,
        groupId: deps.consumer,
        onProgress: (p) => (progress = p),
      }).then(
        () => (state = 'done'),
        (failure: unknown) => {
          state = 'failed';
          error = failure instanceof Error ? failure.message : String(failure);
          deps.logger.error({ err: failure }, 'rebuild failed');
        },
      );
      return true;
    },
    status: () => ({ state, progress, error }),
  };
}

async function rebuildCommand(config: ProjectorConfig, clock: Clock, logger: Logger): Promise<void> {
  const topics = topicNames(config.LOCUS_TOPIC_PREFIX);
  const pool = createPool(config.LOCUS_READ_DB_URL, {
    applicationName: 'locus-projector-rebuild',
    max: 4,
    sessionSettings: projectorSessionSettings(config),
    // sendTogether: one round trip per batch step, every value bound
    pipeline: true,
  });
  const { broker, topicOffsets } = projectorKafka(config, 'locus-projector-rebuild', logger);
  const bar = new SingleBar(
    { format: 'rebuild [{bar}] {value}/{total} events | {rate} ev/s | ETA {eta_formatted} | {phase}' },
    Presets.shades_classic,
  );
  const started = performance.now();
  try {
    await ensureProjectorTopics(broker, topics, config.LOCUS_TOPIC_PREFIX);
    bar.start(1, 0, { rate: 0, phase: 'starting' });
    const result = await rebuildViews({
      pool,
      broker,
      topicOffsets,
      topics,
      liveConsumer: config.LOCUS_PROJECTOR_GROUP,
      groupId: config.LOCUS_PROJECTOR_GROUP,
      logger,
      clock,
      maxEventsPerTransaction: positiveOf(config, 'LOCUS_PROJECTOR_MAX_BATCH_EVENTS'),
      onProgress: (p) => {
        const seconds = (performance.now() - started) / 1000;
        bar.setTotal(Math.max(1, p.total));
        bar.update(Math.min(p.applied, p.total), { rate: Math.round(p.applied / seconds), phase: p.phase });
      },
    });
    bar.stop();
    console.log(
      `rebuilt ${result.events} events in ${result.seconds.toFixed(1)} s (${Math.round(result.events / result.seconds)} ev/s); swapped in`,
    );
  } finally {
    bar.stop();
    await topicOffsets.close();
    await broker.close();
    await pool.end();
  }
}

async function dlqCommand(config: ProjectorConfig, args: string[]): Promise<void> {
  const [verb, idText] = args;
  const pool = createPool(config.LOCUS_READ_DB_URL, { applicationName: 'locus-projector-dlq', max: 2 });
  const target = { pool, tables: viewTables() };
  try {
    if (verb === 'list' || verb === undefined) {
      const letters = await listDeadLetters(pool, config.LOCUS_PROJECTOR_GROUP, { limit: 1000 });
      if (letters.length === 0) console.log('no dead letters');
      for (const letter of letters.map(toDeadLetterBody)) {
        console.log(
          `${letter.id}\t${letter.status}\t${letter.topic}/${letter.partition}@${letter.offset}\tkey=${letter.key ?? ''}\t${letter.errorCode}\t${letter.reason}`,
        );
      }
      return;
    }
    const id = Number(idText);
    if (!Number.isInteger(id) || id < 1) {
      throw new LocusError('LOCUS_VALIDATION', `usage: locus projector dlq ${verb} <id> (a dead letter id)`);
    }
    if (verb === 'retry') console.log(JSON.stringify(await retryDeadLetter(target, id)));
    else if (verb === 'skip') console.log(JSON.stringify(await skipDeadLetter(target, id)));
    else
      throw new LocusError(
        'LOCUS_VALIDATION',
        `unknown dlq action "${verb}": use list, retry <id> or skip <id>`,
      );
  } finally {
    await pool.end();
  }
}
