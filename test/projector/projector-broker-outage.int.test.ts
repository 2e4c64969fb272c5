import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../support/isolation.js';
import { freePort } from '../support/ports.js';
import { endpointOf } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  caughtUp,
  EventWriter,
  exitOf,
  expectedViews,
  openProjectorTestbed,
  produceMixed,
  readViews,
  seededRandom,
  spawnProjector,
  storedTotal,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';

const logger = createLogger('projector-broker-outage-test', 'error');
/** Kafka's fault-injection listener and the address it advertises (scripts/services/kafka.sh). */
const FAULT_LISTENER = process.env.LOCUS_KAFKA_FAULT_LISTENER;
const FAULT_PROXY = process.env.LOCUS_KAFKA_FAULT_PROXY;
/** Longer than kafkajs spends on its retries (8, from 100 ms doubling: ~25 s), so its consumer gives up. */
const OUTAGE_MS = 35_000;

describe.skipIf(!FAULT_LISTENER || !FAULT_PROXY)(
  'projector when the broker goes away (needs the Kafka fault listener of `services up`)',
  () => {
    const prefix = uniqueTopicPrefix();
    const topics = topicNames(prefix);
    const group = uniqueName('projector');
    const writer = new EventWriter();
    const random = seededRandom(29);
    let testbed: ProjectorTestbed;
    let proxy: TcpProxy;
    let projector: ChildProcess;
    let port: number;

    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
      return { status: response?.status, body: (await response?.text()) ?? '' };
    };
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
      port = await freePort();
      projector = spawnProjector(testbed.db, prefix, group, {
        LOCUS_KAFKA_BROKERS: FAULT_PROXY!,
        LOCUS_PROJECTOR_PORT: String(port),
        LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '500',
        LOCUS_PROJECTOR_STUCK_SECONDS: '2',
      });
    });

    afterAll(async () => {
      if (projector && projector.exitCode === null) {
        projector.kill('SIGKILL');
        await exitOf(projector, 10_000);
      }
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
        await waitFor('/health to report the outage', async () => (await health()).status === 503, 30_000);
        await produceMore({ categories: 1, products: 50, reviews: 1_000, edits: 500 });
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        expect(projector.exitCode).toBeNull(); // still running, not crashed out
        expect((await health()).status).toBe(503);
      } finally {
        await proxy.restore();
      }

      // then
      await waitFor('catch-up', () => caughtUp(pool, testbed.broker, topics, group), 120_000);
      await waitFor('/health to recover', async () => (await health()).status === 200, 30_000);
      expect(projector.exitCode).toBeNull();
      const parked = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
      expect(parked.rows[0]?.n).toBe(0); // an outage is not the events' fault
      expect(await readViews(pool)).toEqual(expectedViews(writer.events));
    }, 300_000);
  },
);
