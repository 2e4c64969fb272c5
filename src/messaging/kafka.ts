/**
 * The kafkajs adapter (with kafka-producer.ts and kafka-topics.ts). Everything else in locus speaks
 * these small interfaces, so a later move to another client (kafkajs is in maintenance mode) touches
 * these files; the consumer's fetch-ahead logic is client-free, in batch-pump.ts.
 */
import { Kafka, logLevel, type EachBatchPayload, type IHeaders } from 'kafkajs';
import type { Logger } from '../shared/logger.js';
import { createBatchPump, type BatchPumpOptions } from './batch-pump.js';
import { grantAcls, type AclGrant } from './kafka-acls.js';
import { saslOptions, type KafkaCredentials } from './kafka-credentials.js';
import { createProducer } from './kafka-producer.js';
import { deleteTopics, ensureTopics } from './kafka-topics.js';

export interface OutgoingMessage {
  topic: string;
  /** Partition key: one aggregate's messages share a key, so they keep their order in one partition. */
  key: string;
  value: string;
  headers?: Record<string, string>;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  /** Kafka offset as a decimal string (offsets are 64-bit). */
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Broker timestamp, ms since the epoch. */
  timestamp: number;
}

export interface IncomingBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** The partition's high watermark when the batch was fetched: lag = highWatermark - next offset. */
  highWatermark: string;
}

export interface MessageProducer {
  /** Resolves once every message is acknowledged by the broker (acks=all, idempotent producer). */
  send(messages: OutgoingMessage[]): Promise<void>;
  /**
   * The largest record batch `topic` accepts, in bytes: the topic's `max.message.bytes` (which
   * defaults to the broker's `message.max.bytes`), read from the broker and cached for a while;
   * never above the producer's own `maxRequestBytes`. `fresh` reads it again now (before giving up
   * on an event as too large: an operator may have raised the limit).
   */
  maxBatchBytes(topic: string, options?: { fresh?: boolean }): Promise<number>;
  close(): Promise<void>;
}

export interface ProducerOptions {
  /**
   * The producer's own bound on a produce request, in bytes, and the limit assumed for a topic whose
   * configuration cannot be read (default 1 MiB: Kafka's default `message.max.bytes` and the Java
   * client's `max.request.size`).
   */
  maxRequestBytes?: number;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Kafka topic configs, e.g. `{ 'retention.ms': '-1' }`. */
  config?: Record<string, string>;
}

export interface PartitionPosition {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: string;
}

/** A consumer group member whose fetches feed a batch pump (see BatchPumpOptions). */
interface BatchConsumerOptions extends BatchPumpOptions {
  groupId: string;
  topics: string[];
  maxBytesPerPartition?: number;
  /**
   * How long a fetch at the head waits for new messages (default 5,000 ms). A seek or a stop waits
   * for the fetch in flight, so a short wait makes those prompt.
   */
  maxWaitMs?: number;
}

export interface BatchConsumer {
  stop(): Promise<void>;
  /** High watermarks of every partition of the given topics (the end offsets). */
  endOffsets(topics: string[]): Promise<PartitionPosition[]>;
}

export interface Broker {
  producer(options?: ProducerOptions): Promise<MessageProducer>;
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  deleteTopics(topics: string[]): Promise<void>;
  /** Allows what `grants` name (see kafka-acls.ts); the client must be logged in as a super user. */
  grantAcls(grants: AclGrant[]): Promise<void>;
  endOffsets(topic: string): Promise<PartitionPosition[]>;
  startBatchConsumer(options: BatchConsumerOptions): Promise<BatchConsumer>;
  close(): Promise<void>;
}

export function parseBrokers(list: string): string[] {
  return list
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
}

const LEVEL_NAMES: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Connects lazily to the brokers in `LOCUS_KAFKA_BROKERS` form (`host:port,host:port`), logging in with
 * `credentials` (SASL/SCRAM) when given (see `kafkaCredentials`).
 */
export function createBroker(options: {
  brokers: string;
  clientId: string;
  logger: Logger;
  credentials?: KafkaCredentials | undefined;
}): Broker {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: parseBrokers(options.brokers),
    sasl: saslOptions(options.credentials),
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 100, retries: 8 },
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...extra } = log;
        options.logger[LEVEL_NAMES[level] ?? 'info']({ kafka: extra }, message);
      },
  });
  const admin = kafka.admin();
  let adminConnected: Promise<void> | undefined;
  const connectedAdmin = async () => {
    adminConnected ??= admin.connect();
    await adminConnected;
    return admin;
  };
  const clients: { close(): Promise<void> }[] = [];

  const endOffsets = async (topic: string): Promise<PartitionPosition[]> => {
    const offsets = await (await connectedAdmin()).fetchTopicOffsets(topic);
    return offsets.map((o) => ({ topic, partition: o.partition, offset: o.high }));
  };

  return {
    async producer(producerOptions = {}) {
      const producer = await createProducer(kafka, connectedAdmin, producerOptions, options.logger);
      clients.push(producer);
      return producer;
    },

    ensureTopics: async (topics) => ensureTopics(await connectedAdmin(), topics),
    deleteTopics: async (topics) => deleteTopics(await connectedAdmin(), topics),
    grantAcls: async (grants) => grantAcls(await connectedAdmin(), grants),

    endOffsets,

    async startBatchConsumer(consumerOptions) {
      const consumer = await startConsumer(kafka, consumerOptions, options.logger);
      clients.push(consumer);
      return {
        stop: () => consumer.close(),
        async endOffsets(topics) {
          return (await Promise.all(topics.map(endOffsets))).flat();
        },
      };
    },

    async close() {
      await Promise.allSettled(clients.map((client) => client.close()));
      if (adminConnected) await admin.disconnect();
    },
  };
}

/**
 * Joins the group and runs its fetches through a batch pump. Kafka's committed offsets are never
 * used: on every (re)assignment the pump seeks each partition to the position stored beside the views.
 */
async function startConsumer(
  kafka: Kafka,
  options: BatchConsumerOptions,
  logger: Logger,
): Promise<{ close(): Promise<void> }> {
  let closing = false;
  const consumer = kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: options.maxWaitMs ?? 5_000,
    // kafkajs restarts a consumer that crashed (a fetch failing on a broker gone), even one crashing as
    // it stops: that restart would keep retrying the broker after the process meant to exit.
    retry: { retries: 5, restartOnFailure: async () => !closing },
  });
  await consumer.connect();
  for (const topic of options.topics) await consumer.subscribe({ topic, fromBeginning: true });
  const pump = createBatchPump(options, (p) => consumer.seek(p), logger);
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    pump.reassigned(
      Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
        partitions.map((partition) => ({ topic, partition })),
      ),
    );
  });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: true,
    eachBatch: async (payload: EachBatchPayload) => {
      if (!payload.isRunning() || payload.isStale()) return;
      await pump.offer({
        isRunning: () => payload.isRunning(),
        isStale: () => payload.isStale(),
        heartbeat: () => payload.heartbeat(),
        read: () => toIncomingBatch(payload),
      });
    },
  });
  let closed: Promise<void> | undefined;
  return {
    close() {
      closed ??= (async () => {
        closing = true;
        pump.stopping();
        await consumer.disconnect();
        await pump.idle();
      })();
      return closed;
    },
  };
}

function toIncomingBatch({ batch }: EachBatchPayload): IncomingBatch {
  return {
    topic: batch.topic,
    partition: batch.partition,
    highWatermark: batch.highWatermark,
    messages: batch.messages.map((m) => ({
      topic: batch.topic,
      partition: batch.partition,
      offset: m.offset,
      key: m.key?.toString('utf8') ?? null,
      value: m.value,
      timestamp: Number(m.timestamp),
      headers: stringHeaders(m.headers),
    })),
  };
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  // A loop, not entries/map/fromEntries: this runs for every message consumed.
  for (const name in headers) result[name] = headers[name]?.toString() ?? '';
  return result;
}
