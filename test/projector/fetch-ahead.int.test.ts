import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, type Broker, type IncomingBatch } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { testKafkaCredentials } from '../support/kafka.js';

/**
 * The group mode of startBatchConsumer, which the projector uses: the consumer fetches ahead while a
 * group is handled, so after a failed group the batches fetched behind it must not be handled, or a
 * position would be stored past messages that were never applied.
 */
describe('batch consumer fetching ahead', () => {
  const topic = `${uniqueTopicPrefix()}ahead`;
  let broker: Broker;

  beforeAll(async () => {
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'fetch-ahead-test',
      logger: createLogger('fetch-ahead-test', 'fatal'),
    });
    await broker.ensureTopics([{ topic, partitions: 3 }]);
  });

  afterAll(async () => {
    await broker.deleteTopics([topic]);
    await broker.close();
  });

  it('given a handler that fails twice mid-stream, when the consumer resumes, then every message is handled and none is skipped', async () => {
    // given: 600 messages on 3 partitions, and a "store" of positions the handler advances on success
    const producer = await broker.producer();
    for (let i = 0; i < 6; i++) {
      await producer.send(
        Array.from({ length: 100 }, (_, j) => ({
          topic,
          key: `k${(i * 100 + j) % 17}`,
          value: `${i * 100 + j}`,
        })),
      );
    }
    await producer.close();
    const stored = new Map<number, number>();
    const gaps: string[] = [];
    let calls = 0;
    let failures = 0;
    let handled = 0;

    // when: every third call fails (twice), after checking that each partition continues at or below its position
    const consumer = await broker.startBatchConsumer({
      groupId: uniqueName('ahead'),
      topics: [topic],
      // Small fetches and a small queue: many groups, each fetched while the one before is handled.
      maxBytesPerPartition: 1024,
      maxPendingMessages: 30,
      retryDelayMs: 50,
      positions: async (assigned) =>
        assigned.map((a) => ({ ...a, offset: String(stored.get(a.partition) ?? 0) })),
      handleBatches: async (batches: IncomingBatch[]) => {
        calls += 1;
        const next = new Map(stored);
        for (const batch of batches) {
          const first = Number(batch.messages[0]!.offset);
          const at = next.get(batch.partition) ?? 0;
          if (first > at) gaps.push(`partition ${batch.partition}: ${first} after ${at}`);
          next.set(batch.partition, Math.max(at, Number(batch.messages.at(-1)!.offset) + 1));
        }
        await sleep(20);
        if (calls % 3 === 0 && failures < 2) {
          failures += 1;
          throw new Error('store unavailable');
        }
        for (const [partition, offset] of next) stored.set(partition, offset);
        handled = [...stored.values()].reduce((a, b) => a + b, 0);
      },
    });
    const deadline = Date.now() + 60_000;
    while (handled < 600 && Date.now() < deadline) await sleep(50);
    await consumer.stop();

    // then
    expect(gaps).toEqual([]);
    expect(failures).toBe(2);
    expect(handled).toBe(600);
    expect(calls).toBeGreaterThan(3);
  }, 90_000);
});
