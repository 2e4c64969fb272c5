import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { decodeEvent } from '../../src/contracts/registry.js';
import { createBroker, type Broker, type MessageProducer } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { runRelay, toMessage } from '../../src/relay/relay.js';
import { createTestDatabase, uniqueTopicPrefix, type TestDatabase } from '../../testkit/isolation.js';
import { appliedAfterDedupe, collectMessages, versionsByKey } from './kafka-collector.js';
import { appendInterleaved, pendingRows } from './outbox-fixture.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('relay-crash-test', 'silent');

describe('relay crash between Kafka ack and mark', () => {
  let database: TestDatabase;
  let db: Kysely<CatalogDb>;
  let broker: Broker;
  let producer: MessageProducer;
  const topics: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('catalog');
    db = createKysely<CatalogDb>(createPool(database.url, { applicationName: 'relay-crash-test' }));
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'relay-crash-test',
      logger,
    });
    producer = await broker.producer();
  });

  afterAll(async () => {
    await producer?.close();
    await broker?.deleteTopics(topics);
    await broker?.close();
    await db?.destroy();
    await database?.drop();
  });

  async function freshTopic(): Promise<string> {
    const topic = `${uniqueTopicPrefix()}products`;
    topics.push(topic);
    await broker.ensureTopics([{ topic, partitions: 3 }]);
    return topic;
  }

  async function drain(): Promise<void> {
    const source = new PostgresOutboxSource({ url: database.url, pollIntervalMs: 100 });
    const relay = runRelay(source, producer, { logger, batchSize: 100 });
    const deadline = Date.now() + 30_000;
    while ((await pendingRows(db)) > 0 && Date.now() < deadline) await sleep(50);
    await relay.stop();
    await source.close();
  }

  it('a failure in the mark step leaves the batch pending; the next run re-sends it and loses nothing', async () => {
    // given 4 keys x 5 versions in the outbox
    const topic = await freshTopic();
    await appendInterleaved(db, topic, 4, 5);
    const collector = await collectMessages(broker, [topic]);

    // when a relay publishes a batch of 12 and dies before marking it
    const crashing = new PostgresOutboxSource({ url: database.url });
    await expect(
      crashing.publishBatch(12, async (events) => {
        await producer.send(events.map(toMessage));
        throw new Error('process died before mark');
      }),
    ).rejects.toThrow('process died before mark');
    await crashing.close();
    expect(await pendingRows(db)).toBe(20);

    // and a relay runs again
    await drain();

    // then every event arrived; the first 12 twice (same event id), and per key the order holds
    const messages = await collector.waitFor(32);
    await collector.settle(1_000);
    await collector.stop();
    expect(messages).toHaveLength(32);
    const ids = messages.map((m) => decodeEvent(m.value).id);
    expect(new Set(ids).size).toBe(20);
    for (const [, versions] of versionsByKey(messages)) {
      expect(appliedAfterDedupe(versions)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('a relay process SIGKILLed after the ack loses nothing: the restarted relay re-sends the batch', async () => {
    // given 5 keys x 4 versions in the outbox
    const topic = await freshTopic();
    await appendInterleaved(db, topic, 5, 4);
    const collector = await collectMessages(broker, [topic]);

    // when a relay process publishes a batch, is acknowledged, and is killed before it marks
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/relay-child.ts')],
      {
        env: { ...process.env, OUTBOX_URL: database.url, BATCH_SIZE: '8' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    const acked = await new Promise<string[]>((resolve, reject) => {
      child.once('message', (message: { acked: string[] }) => resolve(message.acked));
      child.once('exit', (code) => reject(new Error(`relay child exited early (${code})`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(acked).toHaveLength(8);

    // then its lanes are free again (the database ended its transaction) and nothing is marked
    expect(await pendingRows(db)).toBe(20);

    // and a restarted relay publishes everything, the killed batch a second time
    await drain();
    const messages = await collector.waitFor(28);
    await collector.settle(1_000);
    await collector.stop();
    expect(messages).toHaveLength(28);
    const ids = messages.map((m) => decodeEvent(m.value).id);
    expect(ids.filter((id) => acked.includes(id))).toHaveLength(16);
    for (const [, versions] of versionsByKey(messages)) {
      expect(appliedAfterDedupe(versions)).toEqual([1, 2, 3, 4]);
    }
  });
});
