import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { topicNames } from '../../src/contracts/topics.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../testkit/isolation.js';
import { appliedAfterDedupe, collectMessages, versionsByKey } from './kafka-collector.js';
import { appendProductEvent, attributesOfSize, pendingRows, productKey } from './outbox-fixture.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('relay-large-events-test', 'silent');

/** The catalog API's bound on a product's attributes (about 16 KiB of JSON): events at the size limit. */
const AT_THE_API_LIMIT = 16 * 1024;

/**
 * The real relay process over a backlog of large events built while it was stopped (issue 13, item 4
 * and the burst after a downtime). Before the relay bounded its produce requests by bytes, every
 * batch of these backlogs was one request over the broker's 1 MiB limit ("message larger than the max
 * message size the server will accept"), refused again and again: nothing drained.
 */
describe('the relay process drains backlogs of large events', () => {
  // Each test has a catalog database of its own: a backlog left by one must not count in the other.
  let database: TestDatabase;
  let db: Kysely<CatalogDb>;
  const databases: { database: TestDatabase; db: Kysely<CatalogDb> }[] = [];
  let broker: Broker;
  const mongo = uniqueMongoUrl();
  const prefixes: string[] = [];
  const relays: RelayProcess[] = [];

  beforeEach(async () => {
    database = await createTestDatabase('catalog');
    db = createKysely<CatalogDb>(createPool(database.url, { applicationName: 'relay-large-events-test' }));
    databases.push({ database, db });
  });

  beforeAll(() => {
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'relay-large-test',
      logger,
    });
  });

  afterAll(async () => {
    await Promise.all(relays.map((relay) => relay.stop()));
    await broker?.deleteTopics(prefixes.flatMap((prefix) => Object.values(topicNames(prefix)) as string[]));
    await broker?.close();
    for (const opened of databases) {
      await opened.db.destroy();
      await opened.database.drop();
    }
    const client = await new MongoClient(mongo.url).connect();
    await client.db(mongo.database).dropDatabase();
    await client.close();
  });

  /** Starts a relay over the test's stores with a fresh topic prefix; the topics exist once it answers. */
  async function relayWithFreshTopics(): Promise<{ relay: RelayProcess; topic: string }> {
    const prefix = uniqueTopicPrefix();
    prefixes.push(prefix);
    const relay = await startRelayProcess({
      ...database.env,
      LOCUS_MONGO_URL: mongo.url,
      LOCUS_TOPIC_PREFIX: prefix,
    });
    relays.push(relay);
    return { relay, topic: topicNames(prefix).products };
  }

  async function waitForEmptyOutbox(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await pendingRows(db)) > 0 && Date.now() < deadline) await sleep(200);
  }

  it('item 4: 40 updates of one product with ~60 KB attributes, written while the relay was stopped', async () => {
    // given a relay that created its topics, then stopped
    const first = await relayWithFreshTopics();
    expect(await first.relay.stop()).toBe(0);
    const { topic } = first;

    // when, meanwhile, one product gets 40 updates of ~60 KB attributes (2.4 MB, one partition) and two
    // others small ones. The catalog API now refuses attributes this large, so the rows are written
    // the way the catalog writes them (appendToOutbox), as the PATCHes left them.
    const big = productKey(1);
    for (let version = 1; version <= 40; version++) {
      await appendProductEvent(db, topic, big, version, attributesOfSize(60_000, version));
      if (version <= 5) {
        await appendProductEvent(db, topic, productKey(2), version);
        await appendProductEvent(db, topic, productKey(3), version);
      }
    }
    const collector = await collectMessages(broker, [topic]);

    // and the relay starts again
    const { relay } = await startRelayProcessOver(topic);

    // then everything drains, each key in version order, and the relay is healthy
    await waitForEmptyOutbox(60_000);
    expect(await pendingRows(db)).toBe(0);
    const messages = await collector.waitFor(50, 30_000);
    await collector.settle(1_000);
    await collector.stop();
    const byKey = versionsByKey(messages);
    expect(byKey.get(big)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(byKey.get(productKey(2))).toEqual([1, 2, 3, 4, 5]);
    expect(byKey.get(productKey(3))).toEqual([1, 2, 3, 4, 5]);
    const health = await relay.health();
    expect(health.status).toBe(200);
    expect(health.body.checks['relay-catalog']?.detail).not.toMatch(/degraded/);
    expect(await relay.stop()).toBe(0);
  }, 150_000);

  it('a burst of events at the size limit after 5 minutes of relay downtime drains completely, in key order', async () => {
    // given a relay that created its topics, then stopped for 5 minutes while the catalog took
    // 10 writes/s of products whose attributes are at the API's bound: 3,000 events, 100 products,
    // 30 versions each, about 50 MB. The backlog is written as fast as the store takes it instead of
    // over 5 wall-clock minutes: the relay sees the same outbox either way.
    const first = await relayWithFreshTopics();
    expect(await first.relay.stop()).toBe(0);
    const { topic } = first;
    const keys = 100;
    const versions = 30;
    for (let version = 1; version <= versions; version++) {
      await Promise.all(
        Array.from({ length: keys }, (_, i) =>
          appendProductEvent(db, topic, productKey(1000 + i), version, attributesOfSize(AT_THE_API_LIMIT, i)),
        ),
      );
    }
    expect(await pendingRows(db)).toBe(keys * versions);
    const collector = await collectMessages(broker, [topic]);

    // when the relay starts again
    const started = Date.now();
    const { relay } = await startRelayProcessOver(topic);

    // then every event arrives, and per product the versions arrive in order
    await waitForEmptyOutbox(180_000);
    expect(await pendingRows(db)).toBe(0);
    const drainedInMs = Date.now() - started;
    const messages = await collector.waitFor(keys * versions, 120_000);
    await collector.settle(1_000);
    await collector.stop();
    const byKey = versionsByKey(messages);
    expect(byKey.size).toBe(keys);
    for (const [, arrived] of byKey) {
      expect(appliedAfterDedupe(arrived)).toEqual(Array.from({ length: versions }, (_, i) => i + 1));
      expect(arrived).toEqual([...arrived].sort((a, b) => a - b)); // never an older version after a newer
    }
    expect((await relay.health()).status).toBe(200);
    expect(await relay.stop()).toBe(0);
    console.log(`burst of ${keys * versions} events of ~${AT_THE_API_LIMIT} B drained in ${drainedInMs} ms`);
  }, 400_000);

  /** Starts the relay again over the topics `topic` belongs to. */
  async function startRelayProcessOver(topic: string): Promise<{ relay: RelayProcess }> {
    const relay = await startRelayProcess({
      ...database.env,
      LOCUS_MONGO_URL: mongo.url,
      LOCUS_TOPIC_PREFIX: topic.slice(0, -'products'.length),
    });
    relays.push(relay);
    return { relay };
  }
});
