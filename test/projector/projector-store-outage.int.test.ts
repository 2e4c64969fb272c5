import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { lockConsumerStatement } from '../../src/projector/positions.repository.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  expectRecoveredFromOutage,
  spawnWatchedProjector,
  type WatchedProjector,
} from './outage.fixtures.js';
import {
  caughtUp,
  openProjectorTestbed,
  storedTotal,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';
import { EventWriter, produceMixed } from '../../testkit/events.js';
import { readViews } from '../../testkit/views.js';
import { expectedViews } from '../../testkit/model.js';
import { seededRandom } from '../../testkit/random.js';

const logger = createLogger('projector-outage-test', 'error');

/** Sessions the spawned projector holds on the read store, as the server sees them. */
async function projectorSessions(pool: pg.Pool, database: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'locus-projector'`,
    [database],
  );
  return rows[0]?.n ?? 0;
}

describe('projector when its read store fails it', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const writer = new EventWriter();
  const random = seededRandom(41);
  let testbed: ProjectorTestbed;
  let proxy: TcpProxy;
  let projector: WatchedProjector;

  const health = () => projector.health();
  const produceMore = (size: Parameters<typeof produceMixed>[4]) =>
    produceMixed(testbed.producer, topics, writer, random, size);
  const allApplied = () =>
    waitFor('catch-up', () => caughtUp(testbed.pool, testbed.broker, topics, group), 120_000);

  beforeAll(async () => {
    testbed = await openProjectorTestbed({ prefix, clientId: 'projector-outage-test', poolSize: 3, logger });
    const store = new URL(testbed.db.url);
    proxy = await startTcpProxy({ host: store.hostname, port: Number(store.port) });
    // a projector that reaches the read store only through the proxy
    projector = await spawnWatchedProjector(testbed.db, prefix, group, {
      LOCUS_READ_DB_URL: proxy.via(testbed.db.urlFor('LOCUS_READ_DB_URL')),
    });
  });

  afterAll(async () => {
    await projector?.kill();
    await proxy?.close();
    await testbed?.close();
  });

  it('given a projector applying a stream, when the read store goes away mid-stream and comes back, then it reports unhealthy meanwhile, parks nothing, and ends with every change applied once', async () => {
    // given
    const { pool } = testbed;
    await produceMore({ categories: 6, products: 500, reviews: 12_000, edits: 8_000 });

    // when: the store disappears while batches are being applied (a transaction is cut mid-way)
    await waitFor('some progress', async () => (await storedTotal(pool, group)) > 1_000, 60_000);
    await proxy.cut();
    try {
      // a COMMIT the server had already received when the connection dropped still completes; what
      // counts is what commits once the server has ended every session of the projector
      await waitFor(
        "the read store to end the projector's sessions",
        async () => {
          return (await projectorSessions(pool, testbed.db.name)) === 0;
        },
        20_000,
      );
      const atCut = await storedTotal(pool, group);
      expect(atCut).toBeLessThan(writer.events.length);
      await waitFor('/health to report the outage', async () => (await health()).status === 503, 20_000);
      await sleep(2_000);
      expect(await storedTotal(pool, group)).toBe(atCut); // nothing commits while the store is away
    } finally {
      await proxy.restore();
    }

    // then
    await expectRecoveredFromOutage(testbed, topics, group, projector, writer);
  }, 240_000);

  it('given a healthy projector, when its batches wait on a lock another session holds while events pile up, then /health reports it stuck, and healthy again once it moves', async () => {
    // given
    const { pool, db } = testbed;
    await allApplied();
    expect((await health()).status).toBe(200);

    // when: another session holds the consumer's lock (as a long admin transaction or a zombie would)
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      const lock = lockConsumerStatement(group);
      await holder.query('BEGIN');
      await holder.query(lock.text, [...lock.values]);
      const before = await storedTotal(pool, group);
      await produceMore({ categories: 2, products: 50, reviews: 500, edits: 300 });

      // then: alive and answering, but stuck — lag and no commit for longer than the setting
      let last = { status: undefined as number | undefined, body: '' };
      await waitFor(
        '/health to report the projector stuck',
        async () => (last = await health()).status === 503 && last.body.includes('stuck'),
        30_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message} (last: ${last.status} ${last.body})`);
      });
      expect(await storedTotal(pool, group)).toBe(before);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    await allApplied();
    await waitFor('/health to recover', async () => (await health()).status === 200, 20_000);
    expect(await readViews(pool)).toEqual(expectedViews(writer.events));
  }, 120_000);
});
