import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, type Broker, type IncomingMessage } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { testKafkaCredentials } from '../support/kafka.js';

describe('Kafka broker', () => {
  const topic = `${uniqueTopicPrefix()}smoke`;
  let broker: Broker;

  beforeAll(async () => {
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'smoke',
      logger: createLogger('smoke', 'error'),
    });
    await broker.ensureTopics([{ topic, partitions: 3 }]);
  });

  afterAll(async () => {
    await broker.deleteTopics([topic]);
    await broker.close();
  });

  it('round-trips keyed messages on a 3-partition topic and keeps per-key order', async () => {
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const producer = await broker.producer();
    const sent = keys.flatMap((key) =>
      Array.from({ length: 20 }, (_, i) => ({ topic, key, value: `${key}:${i}` })),
    );
    // Interleave keys across sends so order is tested, not just batch layout.
    for (let i = 0; i < 20; i++) await producer.send(sent.filter((m) => m.value.endsWith(`:${i}`)));
    await producer.close();

    const received: IncomingMessage[] = [];
    const consumer = await broker.startBatchConsumer({
      groupId: uniqueName('smoke'),
      topics: [topic],
      positions: async (assigned) => assigned.map((a) => ({ ...a, offset: '0' })),
      handleBatches: async (batches) => {
        for (const batch of batches) received.push(...batch.messages);
      },
    });
    const deadline = Date.now() + 30_000;
    while (received.length < sent.length && Date.now() < deadline) await sleep(50);
    await consumer.stop();

    expect(received).toHaveLength(sent.length);
    const partitions = new Set(received.map((m) => m.partition));
    expect(partitions.size).toBeGreaterThan(1);
    for (const key of keys) {
      const ofKey = received.filter((m) => m.key === key);
      expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1);
      expect(ofKey.map((m) => m.value?.toString())).toEqual(
        Array.from({ length: 20 }, (_, i) => `${key}:${i}`),
      );
    }
  });
});
