/**
 * The only module that imports kafkajs. Everything else in locus speaks these small interfaces, so a
 * later move to another client (kafkajs is in maintenance mode) touches this file alone.
 */
import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type ConfigResourceTypes,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type Producer,
} from 'kafkajs';
import type { Logger } from '../shared/logger.js';

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

/** Default `ProducerOptions.maxRequestBytes`. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

// kafkajs's ConfigResourceTypes enum is not a named export of its CommonJS module under ESM.
const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
const BROKER_RESOURCE = 4 as ConfigResourceTypes;

/** How long a topic's size limit read from the broker is reused. */
const SIZE_LIMIT_TTL_MS = 30_000;

/** Broker errors about the records themselves: the same records are refused the same way again. */
const CONTENT_REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']);

/**
 * True when the broker refused a produce request for what it carries (too large: `MESSAGE_TOO_LARGE`,
 * `RECORD_LIST_TOO_LARGE`; or `INVALID_RECORD`): sending the same records again fails the same way,
 * so this is no outage.
 */
export function isRejectedForContent(error: unknown): boolean {
  for (let e = error as { type?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.type === 'string' && CONTENT_REFUSALS.has(e.type)) return true;
    if (e instanceof Error && /larger than the max message size/i.test(e.message)) return true;
    e = e.cause as typeof e;
  }
  return false;
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

export interface BatchConsumerOptions {
  groupId: string;
  topics: string[];
  /**
   * Called when partitions are assigned: returns where to resume each one. Positions stored in the
   * read store win over Kafka's committed offsets, which locus never commits.
   */
  positions(assigned: { topic: string; partition: number }[]): Promise<PartitionPosition[]>;
  /**
   * Handles one fetched batch of one partition; the next batch of that partition waits for it.
   * Give either this or `handleBatches`.
   */
  handleBatch?: (batch: IncomingBatch, heartbeat: () => Promise<void>) => Promise<void>;
  /**
   * Group mode, instead of `handleBatch`: handles every batch fetched since the previous call in ONE
   * call, one call at a time, while the consumer keeps fetching the next batches (at most
   * `maxPendingMessages` wait; then fetching pauses). So fetching overlaps handling, and a slow call
   * gets a bigger next group. Each partition's batches arrive in offset order, each one continuing
   * where the one before it ended. When a call rejects, everything fetched after it is dropped and,
   * after `retryDelayMs`, every assigned partition resumes from `positions()`: nothing is skipped.
   * On every (re)assignment, waiting batches are dropped too and partitions resume from `positions()`.
   */
  handleBatches?: (batches: IncomingBatch[], heartbeat: () => Promise<void>) => Promise<void>;
  /**
   * Group mode: called for each batch as soon as it is fetched, before it waits for `handleBatches`
   * (e.g. to decode it while the previous call waits on its store). Must not throw.
   */
  onFetched?: (batch: IncomingBatch) => void;
  /** Group mode: how many fetched messages may wait for the next `handleBatches` call (default 10,000). */
  maxPendingMessages?: number;
  /** Group mode: wait before resuming from `positions()` after a failed call (default 1,000 ms, doubling up to 10 s: the fetcher waits meanwhile, within the session timeout). */
  retryDelayMs?: number;
  maxBytesPerPartition?: number;
  /**
   * How long a fetch at the head waits for new messages (default 5,000 ms). A seek or a stop waits
   * for the fetch in flight, so a short wait makes those prompt.
   */
  maxWaitMs?: number;
  /**
   * How many partitions' batches may be handled at once (default 1). Above 1, the batches of one fetch
   * are handed to `handleBatch` concurrently, e.g. so a consumer can commit them together.
   */
  partitionsConsumedConcurrently?: number;
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

/** Connects lazily to the brokers in `LOCUS_KAFKA_BROKERS` form (`host:port,host:port`). */
export function createBroker(options: { brokers: string; clientId: string; logger: Logger }): Broker {
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: parseBrokers(options.brokers),
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
  const producers: Producer[] = [];
  const consumers: Consumer[] = [];

  const endOffsets = async (topic: string): Promise<PartitionPosition[]> => {
    const offsets = await (await connectedAdmin()).fetchTopicOffsets(topic);
    return offsets.map((o) => ({ topic, partition: o.partition, offset: o.high }));
  };

  return {
    async producer(producerOptions = {}) {
      const maxRequestBytes = producerOptions.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
      const limits = new Map<string, { bytes: number; readAt: number }>();
      const readLimit = async (topic: string): Promise<number> => {
        try {
          const client = await connectedAdmin();
          const { resources } = await client.describeConfigs({
            includeSynonyms: false,
            resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
          });
          const value = Number(resources[0]?.configEntries[0]?.configValue);
          if (Number.isSafeInteger(value) && value > 0) return Math.min(value, maxRequestBytes);
          return Math.min(await brokerLimit(client), maxRequestBytes);
        } catch (error) {
          options.logger.warn(
            { err: error, topic },
            'cannot read the topic size limit; using the configured one',
          );
          return maxRequestBytes;
        }
      };
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // murmur2 on the key, as the Java client does, so other clients agree on a key's partition.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      producers.push(producer);
      return {
        async send(messages) {
          if (messages.length === 0) return;
          const byTopic = new Map<string, OutgoingMessage[]>();
          for (const message of messages) {
            const list = byTopic.get(message.topic) ?? [];
            list.push(message);
            byTopic.set(message.topic, list);
          }
          await producer.sendBatch({
            acks: -1,
            topicMessages: [...byTopic].map(([topic, list]) => ({
              topic,
              messages: list.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
            })),
          });
        },
        async maxBatchBytes(topic, { fresh = false } = {}) {
          const known = limits.get(topic);
          if (known && !fresh && Date.now() - known.readAt < SIZE_LIMIT_TTL_MS) return known.bytes;
          const bytes = await readLimit(topic);
          limits.set(topic, { bytes, readAt: Date.now() });
          return bytes;
        },
        close: () => producer.disconnect(),
      };
    },

    async ensureTopics(topics) {
      const client = await connectedAdmin();
      const existing = new Set(await client.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length === 0) return;
      try {
        await client.createTopics({
          // kafkajs's own wait for leaders fails on a KRaft broker that briefly answers "unknown
          // topic" right after creating one; the wait below retries that instead.
          waitForLeaders: false,
          topics: missing.map((t) => ({
            topic: t.topic,
            numPartitions: t.partitions,
            replicationFactor: 1,
            configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
          })),
        });
      } catch (error) {
        // Another process created them first: fine, they exist.
        if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
      }
      await waitForLeaders(
        client,
        missing.map((t) => t.topic),
      );
    },

    async deleteTopics(topics) {
      const client = await connectedAdmin();
      const existing = new Set(await client.listTopics());
      const present = topics.filter((t) => existing.has(t));
      if (present.length > 0) await client.deleteTopics({ topics: present });
    },

    endOffsets,

    async startBatchConsumer(consumerOptions) {
      const { handleBatch, handleBatches } = consumerOptions;
      if ((handleBatch === undefined) === (handleBatches === undefined)) {
        throw new Error('startBatchConsumer needs exactly one of handleBatch and handleBatches');
      }
      const consumer = kafka.consumer({
        groupId: consumerOptions.groupId,
        allowAutoTopicCreation: false,
        maxBytesPerPartition: consumerOptions.maxBytesPerPartition ?? 4 * 1024 * 1024,
        sessionTimeout: 30_000,
        heartbeatInterval: 3_000,
        maxWaitTimeInMs: consumerOptions.maxWaitMs ?? 5_000,
      });
      consumers.push(consumer);
      await consumer.connect();
      for (const topic of consumerOptions.topics) await consumer.subscribe({ topic, fromBeginning: true });

      const group = handleBatches
        ? createGroupPump(consumerOptions, handleBatches, (p) => consumer.seek(p), options.logger)
        : undefined;

      // On every (re)assignment, seek each partition to the position stored beside the views.
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        const assigned = Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => ({ topic, partition })),
        );
        if (group) {
          group.reassigned(assigned);
          return;
        }
        consumerOptions
          .positions(assigned)
          .then((positions) => {
            for (const p of positions)
              consumer.seek({ topic: p.topic, partition: p.partition, offset: p.offset });
          })
          .catch((error: unknown) => options.logger.error({ err: error }, 'could not load stored positions'));
      });

      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: consumerOptions.partitionsConsumedConcurrently ?? 1,
        eachBatch: async (payload: EachBatchPayload) => {
          if (!payload.isRunning() || payload.isStale()) return;
          if (group) {
            await group.offer(payload);
            return;
          }
          await handleBatch!(toIncomingBatch(payload), () => payload.heartbeat());
        },
      });

      return {
        async stop() {
          group?.stopping();
          await consumer.disconnect();
          await group?.idle();
        },
        async endOffsets(topics) {
          return (await Promise.all(topics.map(endOffsets))).flat();
        },
      };
    },

    async close() {
      await Promise.allSettled([...producers, ...consumers].map((client) => client.disconnect()));
      if (adminConnected) await admin.disconnect();
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

/**
 * The group mode of startBatchConsumer (see BatchConsumerOptions.handleBatches). kafkajs fetches the
 * next batches only once eachBatch returned for every batch of the previous fetch, so eachBatch here
 * only queues the batch and returns; one handleBatches call at a time drains the queue.
 *
 * Nothing may be skipped: once a call failed, the batches fetched after its batches must not be
 * handled, or their positions would be stored past the failed ones. So a failure (or a reassignment)
 * bumps `epoch`, drops the queue, and drops every batch offered until the seeks to `positions()` are
 * set; kafkajs marks batches fetched before a seek as stale, and the ones after start at the seek.
 */
function createGroupPump(
  options: BatchConsumerOptions,
  handleBatches: NonNullable<BatchConsumerOptions['handleBatches']>,
  seek: (position: PartitionPosition) => void,
  logger: Logger,
) {
  const maxPending = options.maxPendingMessages ?? 10_000;
  const baseDelayMs = options.retryDelayMs ?? 1_000;
  let queue: IncomingBatch[] = [];
  let queued = 0;
  let epoch = 0;
  /** Resumes in progress (a failure or a reassignment): offered batches are dropped meanwhile. */
  let resuming = 0;
  let stopped = false;
  let failures = 0;
  let assigned: { topic: string; partition: number }[] = [];
  let heartbeat: () => Promise<void> = async () => undefined;
  let running: Promise<void> | undefined;
  let roomWaiters: (() => void)[] = [];
  let resumeWaiters: (() => void)[] = [];

  const wakeOffers = () => {
    const waiters = roomWaiters;
    roomWaiters = [];
    for (const wake of waiters) wake();
  };
  const accepting = (since: number) => !stopped && resuming === 0 && epoch === since;

  const drain = () => {
    if (running || queue.length === 0 || stopped) return;
    const batches = queue;
    const since = epoch;
    queue = [];
    queued = 0;
    wakeOffers();
    running = handleBatches(batches, heartbeat).then(
      () => {
        failures = 0;
        running = undefined;
        drain();
      },
      (error: unknown) => {
        running = undefined;
        if (stopped || since !== epoch) return;
        failures += 1;
        const delayMs = Math.min(10_000, baseDelayMs * 2 ** (failures - 1));
        logger.error({ err: error, delayMs }, 'batch handling failed; resuming from the stored positions');
        void resume(delayMs);
      },
    );
  };

  /** Drops what is queued and, after `delayMs`, seeks every assigned partition to `positions()`. */
  const resume = async (delayMs: number) => {
    epoch += 1;
    resuming += 1;
    queue = [];
    queued = 0;
    wakeOffers();
    try {
      for (let attempt = 1; !stopped; attempt++) {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        try {
          for (const p of await options.positions(assigned)) seek(p);
          return;
        } catch (error) {
          logger.error({ err: error }, 'could not load stored positions; retrying');
          delayMs = Math.min(10_000, baseDelayMs * 2 ** attempt);
        }
      }
    } finally {
      resuming -= 1;
      if (resuming === 0) {
        const waiters = resumeWaiters;
        resumeWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  };

  return {
    reassigned(partitions: { topic: string; partition: number }[]) {
      assigned = partitions;
      void resume(0);
    },
    async offer(payload: EachBatchPayload) {
      const since = epoch;
      // While resuming, hold the fetcher until the seeks are set, then drop this batch (fetched before
      // them): its next fetch then starts at the seeks instead of long-polling at the old offsets.
      if (resuming > 0 && !stopped) {
        await new Promise<void>((resolve) => resumeWaiters.push(resolve));
        return;
      }
      if (!accepting(since)) return;
      // Back-pressure: kafkajs fetches again only after this returns.
      while (queued >= maxPending && accepting(since)) {
        await new Promise<void>((resolve) => roomWaiters.push(resolve));
      }
      if (!accepting(since) || payload.isStale() || !payload.isRunning()) return;
      const batch = toIncomingBatch(payload);
      if (batch.messages.length === 0) return;
      heartbeat = () => payload.heartbeat();
      options.onFetched?.(batch);
      queue.push(batch);
      queued += batch.messages.length;
      // Let the other batches of this fetch join the queue before a call takes it.
      setImmediate(drain);
    },
    stopping() {
      stopped = true;
      queue = [];
      wakeOffers();
      for (const wake of resumeWaiters.splice(0)) wake();
    },
    async idle() {
      await running?.catch(() => undefined);
    },
  };
}

/** The broker's `message.max.bytes` (the default of every topic's `max.message.bytes`). */
async function brokerLimit(admin: Admin): Promise<number> {
  const { brokers } = await admin.describeCluster();
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [
      { type: BROKER_RESOURCE, name: String(brokers[0]?.nodeId ?? 1), configNames: ['message.max.bytes'] },
    ],
  });
  const value = Number(resources[0]?.configEntries[0]?.configValue);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error('broker did not report message.max.bytes');
  return value;
}

/** Polls topic metadata until every partition of `topics` has a leader (at most `timeoutMs`). */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
      const ready = metadata.every(
        (t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0),
      );
      if (ready && metadata.length === topics.length) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
