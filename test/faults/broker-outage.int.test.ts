import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { createLogger } from '../../src/shared/logger.js';
import { aProduct, startCatalog, type CatalogFixture } from '../catalog/catalog-fixture.js';
import { appliedAfterDedupe, collectMessages, versionsByKey } from '../relay/kafka-collector.js';
import { pendingRows } from '../relay/outbox-fixture.js';
import { healthOf } from '../support/health.js';
import { uniqueMongoUrl, uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';
import { endpointOf } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  expectRecoveredFromOutage,
  spawnWatchedProjector,
  type WatchedProjector,
} from '../projector/outage.fixtures.js';
import { EventWriter, produceMixed } from '../../testkit/events.js';
import {
  exitOf,
  openProjectorTestbed,
  storedTotal,
  waitFor,
  type ProjectorTestbed,
} from '../projector/projector.fixtures.js';
import { seededRandom } from '../../testkit/random.js';
import { setupTestTopics, testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('broker-outage-test', 'error');
/** Kafka's fault-injection listener and the address it advertises (scripts/services/kafka.sh). */
const FAULT_LISTENER = process.env.LOCUS_KAFKA_FAULT_LISTENER;
const FAULT_PROXY = process.env.LOCUS_KAFKA_FAULT_PROXY;
/** Longer than kafkajs spends on its retries (8, from 100 ms doubling: ~25 s), so its clients give up. */
const OUTAGE_MS = 35_000;

/**
 * The broker, as one process sees it, goes away for a while and comes back; every other client keeps
 * the broker. Both cases share the fault listener's fixed proxy port, so they live in this one file
 * (its tests run one after the other).
 */
const needsFaultListener = describe.skipIf(!FAULT_LISTENER || !FAULT_PROXY);

needsFaultListener(
  'relay when the broker goes away (needs the Kafka fault listener of `services up`)',
  () => {
    const prefix = uniqueTopicPrefix();
    const products = 10;
    let catalog: CatalogFixture;
    let broker: Broker;
    let proxy: TcpProxy;
    let relay: ChildProcess;
    let port: number;
    const ids: string[] = [];

    /** One more version of every product, through the catalog's HTTP API (write + outbox row). */
    const updateAll = async (round: number) => {
      for (const id of ids) {
        const response = await catalog.app.inject({
          method: 'PATCH',
          url: `/products/${id}`,
          payload: { price: { amount: 1000 + round, currency: 'EUR' } },
        });
        expect(response.statusCode).toBe(200);
      }
    };
    const pendingOutbox = () => pendingRows(catalog.db);

    beforeAll(async () => {
      catalog = await startCatalog(prefix);
      broker = createBroker({
        brokers: process.env.LOCUS_KAFKA_BROKERS!,
        credentials: testKafkaCredentials(),
        clientId: 'broker-outage-test',
        logger,
      });
      await setupTestTopics(prefix);
      proxy = await startTcpProxy(endpointOf(FAULT_LISTENER!), endpointOf(FAULT_PROXY!).port);
      port = await freePort();
      relay = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'relay'], {
        env: {
          ...process.env,
          ...catalog.database.env,
          LOCUS_MONGO_URL: uniqueMongoUrl().url,
          LOCUS_KAFKA_BROKERS: FAULT_PROXY!,
          LOCUS_TOPIC_PREFIX: prefix,
          LOCUS_RELAY_PORT: String(port),
          LOCUS_LOG_LEVEL: 'error',
        },
        stdio: process.env.DEBUG_CHILD ? 'inherit' : 'ignore',
      });
    });

    afterAll(async () => {
      if (relay && relay.exitCode === null) {
        relay.kill('SIGKILL');
        await exitOf(relay, 10_000);
      }
      await proxy?.close();
      await broker?.deleteTopics([
        catalog.topics.products,
        catalog.topics.categories,
        catalog.topics.reviews,
      ]);
      await broker?.close();
      await catalog?.close();
    });

    it('given a relay publishing catalog writes, when the broker is unreachable for longer than its client retries and comes back, then nothing is marked published meanwhile, it reports unhealthy, and afterwards every event arrives with each key in version order', async () => {
      // given
      await waitFor('the relay to answer', async () => (await healthOf(port)).status === 200, 30_000);
      for (let i = 0; i < products; i++) {
        const created = await catalog.app.inject({ method: 'POST', url: '/products', payload: aProduct() });
        expect(created.statusCode).toBe(201);
        ids.push(created.json<{ id: string }>().id);
      }
      await updateAll(2);
      await waitFor('the first events published', async () => (await pendingOutbox()) === 0, 30_000);

      // when: writes go on while the broker is away for the relay
      await proxy.cut();
      try {
        for (let round = 3; round <= 5; round++) await updateAll(round);
        // 503 comes after several failed batches in a row, each one failing only once kafkajs's
        // producer has spent its retries: by then the outage has outlasted them several times over
        await waitFor(
          '/health to report the outage',
          async () => (await healthOf(port)).status === 503,
          120_000,
        );
        expect(relay.exitCode).toBeNull(); // still running, not crashed out
        expect(await pendingOutbox()).toBe(products * 3); // nothing marked that Kafka did not acknowledge
      } finally {
        await proxy.restore();
      }

      // then
      await waitFor('the outbox to drain', async () => (await pendingOutbox()) === 0, 60_000);
      await waitFor('/health to recover', async () => (await healthOf(port)).status === 200, 30_000);
      const collector = await collectMessages(broker, [catalog.topics.products]);
      const messages = await collector.waitFor(products * 5);
      await collector.settle(1_000);
      await collector.stop();
      const byKey = versionsByKey(messages);
      expect([...byKey.keys()].sort()).toEqual([...ids].sort());
      for (const [, versions] of byKey) expect(appliedAfterDedupe(versions)).toEqual([1, 2, 3, 4, 5]);
    }, 300_000);
  },
);

needsFaultListener(
  'projector when the broker goes away (needs the Kafka fault listener of `services up`)',
  () => {
    const prefix = uniqueTopicPrefix();
    const topics = topicNames(prefix);
    const group = uniqueName('projector');
    const writer = new EventWriter();
    const random = seededRandom(29);
    let testbed: ProjectorTestbed;
    let proxy: TcpProxy;
    let projector: WatchedProjector;

    const produceMore = (size: Parameters<typeof produceMixed>[4]) =>
      produceMixed(testbed.producer, topics, writer, random, size);

    beforeAll(async () => {
      testbed = await openProjectorTestbed({
        prefix,
        clientId: 'projector-broker-outage-test',
        poolSize: 3,
        logger,
      });
      // The test's own producer talks to the broker directly; the projector only through the proxy.
      proxy = await startTcpProxy(endpointOf(FAULT_LISTENER!), endpointOf(FAULT_PROXY!).port);
      projector = await spawnWatchedProjector(testbed.db, prefix, group, {
        LOCUS_KAFKA_BROKERS: FAULT_PROXY!,
      });
    });

    afterAll(async () => {
      await projector?.kill();
      await proxy?.close();
      await testbed?.close();
    });

    it('given a projector applying a stream, when the broker is unreachable for longer than its client retries and comes back, then it stays up reporting unhealthy, parks nothing, and ends with every change applied once', async () => {
      // given
      const { pool } = testbed;
      await produceMore({ categories: 6, products: 300, reviews: 6_000, edits: 4_000 });
      await waitFor('some progress', async () => (await storedTotal(pool, group)) > 1_000, 60_000);

      // when: the broker goes away for this projector while events keep arriving
      await proxy.cut();
      try {
        await waitFor(
          '/health to report the outage',
          async () => (await projector.health()).status === 503,
          30_000,
        );
        await produceMore({ categories: 1, products: 50, reviews: 1_000, edits: 500 });
        await sleep(OUTAGE_MS);
        expect(projector.child.exitCode).toBeNull(); // still running, not crashed out
        expect((await projector.health()).status).toBe(503);
      } finally {
        await proxy.restore();
      }

      // then
      await expectRecoveredFromOutage(testbed, topics, group, projector, writer);
    }, 300_000);
  },
);
