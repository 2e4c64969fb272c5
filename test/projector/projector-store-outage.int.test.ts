import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../support/isolation.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  caughtUp,
  EventWriter,
  exitOf,
  expectedViews,
  freePort,
  mixedStream,
  openProjectorTestbed,
  produce,
  readViews,
  seededRandom,
  spawnProjector,
  storedTotal,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';

const logger = createLogger('projector-outage-test', 'error');

describe('projector while its read store is down', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  let testbed: ProjectorTestbed;
  let proxy: TcpProxy;
  let projector: ChildProcess | undefined;

  beforeAll(async () => {
    testbed = await openProjectorTestbed({ prefix, clientId: 'projector-outage-test', poolSize: 3, logger });
    const store = new URL(testbed.db.url);
    proxy = await startTcpProxy({ host: store.hostname, port: Number(store.port) });
  });

  afterAll(async () => {
    if (projector && projector.exitCode === null) {
      projector.kill('SIGKILL');
      await exitOf(projector, 10_000);
    }
    await proxy?.close();
    await testbed?.close();
  });

  it('given a projector applying a stream, when the read store goes away mid-stream and comes back, then it reports unhealthy meanwhile, parks nothing, and ends with every change applied once', async () => {
    // given: a projector that reaches the read store only through the proxy
    const { pool, broker, producer, db } = testbed;
    const port = await freePort();
    projector = spawnProjector(db, prefix, group, {
      LOCUS_READ_DB_URL: proxy.via(db.url),
      LOCUS_PROJECTOR_PORT: String(port),
      LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '500',
    });
    const health = async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.status;
    const writer = new EventWriter();
    mixedStream(writer, seededRandom(41), { categories: 6, products: 500, reviews: 12_000, edits: 8_000 });
    await produce(producer, topics, writer.events);

    // when: the store disappears while batches are being applied (a transaction is cut mid-way)
    const total = writer.events.length;
    await waitFor('some progress', async () => (await storedTotal(pool, group)) > 1_000, 60_000);
    await proxy.cut();
    const atCut = await storedTotal(pool, group);
    expect(atCut).toBeLessThan(total);
    await waitFor('/health to report the outage', async () => (await health()) === 503, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await storedTotal(pool, group)).toBe(atCut); // nothing commits while the store is away
    await proxy.restore();

    // then
    await waitFor('catch-up after the outage', () => caughtUp(pool, broker, topics, group), 120_000);
    await waitFor('/health to recover', async () => (await health()) === 200, 20_000);
    expect(projector.exitCode).toBeNull();
    const parked = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
    expect(parked.rows[0]?.n).toBe(0); // an outage is not the events' fault
    expect(await readViews(pool)).toEqual(expectedViews(writer.events));
  }, 240_000);
});
