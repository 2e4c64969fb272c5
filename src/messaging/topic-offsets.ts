/**
 * Where each partition of a topic begins and ends, from the broker's admin API. Apart from kafka.ts
 * (whose Broker gives end offsets only) so that module stays as it is: the projector needs the
 * earliest offset too, to tell a deleted, recreated or truncated topic from one it is behind on.
 */
import { Kafka, logLevel } from 'kafkajs';
import { saslOptions, type KafkaCredentials } from './kafka-credentials.js';
import { parseBrokers } from './kafka.js';

export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** The log start offset: records below it are gone (retention, deleteRecords, a recreated topic). */
  earliest: string;
  /** The high watermark: the offset the next record will get. */
  end: string;
}

export interface TopicOffsetsReader {
  /** Every partition of `topic`; rejects when the topic does not exist. */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  close(): Promise<void>;
}

/**
 * Connects lazily to the brokers in `LOCUS_KAFKA_BROKERS` form, with `credentials` when given; errors
 * reach the caller, not a log.
 */
export function createTopicOffsetsReader(options: {
  brokers: string;
  clientId: string;
  credentials?: KafkaCredentials | undefined;
}): TopicOffsetsReader {
  const admin = new Kafka({
    clientId: options.clientId,
    brokers: parseBrokers(options.brokers),
    sasl: saslOptions(options.credentials),
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 3 },
  }).admin();
  let connected: Promise<void> | undefined;
  return {
    async offsets(topic) {
      connected ??= admin.connect();
      await connected;
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ topic, partition: o.partition, earliest: o.low, end: o.high }));
    },
    async close() {
      if (connected) await admin.disconnect();
    },
  };
}
