import { Partitioners, type Admin, type ConfigResourceTypes, type Kafka } from 'kafkajs';
import type { Logger } from '../shared/logger.js';
import type { MessageProducer, OutgoingMessage, ProducerOptions } from './kafka.js';

/** Default `ProducerOptions.maxRequestBytes`. */
const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

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

/** An idempotent, acks=all producer (see `MessageProducer`); `admin` reads the topics' size limits. */
export async function createProducer(
  kafka: Kafka,
  admin: () => Promise<Admin>,
  options: ProducerOptions,
  logger: Logger,
): Promise<MessageProducer> {
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const limits = new Map<string, { bytes: number; readAt: number }>();
  const readLimit = async (topic: string): Promise<number> => {
    try {
      return Math.min(await topicLimit(await admin(), topic), maxRequestBytes);
    } catch (error) {
      logger.warn({ err: error, topic }, 'cannot read the topic size limit; using the configured one');
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
}

/** The topic's `max.message.bytes`, or the broker's `message.max.bytes` when the topic sets none. */
async function topicLimit(admin: Admin, topic: string): Promise<number> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['max.message.bytes'] }],
  });
  const value = Number(resources[0]?.configEntries[0]?.configValue);
  return Number.isSafeInteger(value) && value > 0 ? value : brokerLimit(admin);
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
