import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { decodeEvent } from '../../src/contracts/registry.js';
import { createBroker, type Broker, type MessageProducer } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { runRelay } from '../../src/relay/relay.js';
import { createTestDatabase, uniqueTopicPrefix, type TestDatabase } from '../../testkit/isolation.js';
import { collectMessages } from './kafka-collector.js';
import { appendInterleaved, pendingRows } from './outbox-fixture.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('relay-concurrent-test', 'silent');
const KEYS = 40;
const VERSIONS = 25;

describe('two relays on one outbox', () => {
  let database: TestDatabase;
  let db: Kysely<CatalogDb>;
  let broker: Broker;
  const producers: MessageProducer[] = [];
  const topic = `${uniqueTopicPrefix()}products`;

  beforeAll(async () => {
    database = await createTestDatabase('catalog');
    db = createKysely<CatalogDb>(
      createPool(database.url, { applicationName: 'relay-concurrent-test', max: 20 }),
    );
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'relay-concurrent-test',
      logger,
    });
    await broker.ensureTopics([{ topic, partitions: 6 }]);
    producers.push(await broker.producer(), await broker.producer());
  });

  afterAll(async () => {
    await Promise.all(producers.map((p) => p.close()));
    await broker?.deleteTopics([topic]);
    await broker?.close();
    await db?.destroy();
    await database?.drop();
  });

  it('publish everything exactly once, each key in version order, sharing the work', async () => {
    // given two relays running at once, each claiming a few lanes per small batch
    const published = [0, 0];
    const relays = producers.map((producer, i) => {
      const source = new PostgresOutboxSource({
        url: database.url,
        name: `relay-${i}`,
        lanesPerBatch: 4,
      });
      const relay = runRelay(source, producer, {
        logger,
        batchSize: 20,
        onPublished: (events) => (published[i]! += events.length),
      });
      return { source, relay };
    });
    const collector = await collectMessages(broker, [topic]);

    // when 40 keys get 25 versions each, written round by round while the relays publish
    await appendInterleaved(db, topic, KEYS, VERSIONS);
    const deadline = Date.now() + 60_000;
    while ((await pendingRows(db)) > 0 && Date.now() < deadline) await sleep(50);
    for (const { source, relay } of relays) {
      await relay.stop();
      await source.close();
    }

    // then Kafka holds every event once, and every key's versions arrived in order
    const messages = await collector.waitFor(KEYS * VERSIONS, 30_000);
    await collector.settle(1_000);
    await collector.stop();
    expect(messages).toHaveLength(KEYS * VERSIONS);
    const byKey = new Map<string, number[]>();
    for (const message of messages) {
      byKey.set(message.key!, [
        ...(byKey.get(message.key!) ?? []),
        decodeEvent(message.value).aggregateversion,
      ]);
    }
    expect(byKey.size).toBe(KEYS);
    const inOrder = Array.from({ length: VERSIONS }, (_, i) => i + 1);
    for (const versions of byKey.values()) expect(versions).toEqual(inOrder);
    // and both relays did part of it
    expect(published[0]! + published[1]!).toBe(KEYS * VERSIONS);
    expect(Math.min(...published)).toBeGreaterThan(0);
  });
});
