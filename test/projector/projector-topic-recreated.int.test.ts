import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { saslOptions } from '../../src/messaging/kafka-credentials.js';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startProjectorProcess, type ProjectorProcess } from '../../src/apps/projector.js';
import { topicNames, topicSpecs } from '../../src/contracts/topics.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { sendingDevToken } from '../support/auth.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import {
  caughtUp,
  exitOf,
  openProjectorTestbed,
  rebuildFinished,
  projectorConfig,
  spawnProjectorCommand,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';
import { EventWriter, produce } from '../../testkit/events.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('projector-test', 'error');

/** The operator's own admin client: deletes, recreates and truncates topics behind the projector. */
function operatorAdmin() {
  return new Kafka({
    clientId: 'projector-topic-operator',
    brokers: process.env.LOCUS_KAFKA_BROKERS!.split(','),
    sasl: saslOptions(testKafkaCredentials()),
    logLevel: logLevel.NOTHING,
  }).admin();
}

/** Other tests create and delete topics meanwhile: a metadata refresh over all topics can trip on one. */
async function retrying<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(500);
    }
  }
}

async function health(running: ProjectorProcess): Promise<{ status: number; body: string }> {
  const reply = await running.app.inject({ method: 'GET', url: '/health' });
  return { status: reply.statusCode, body: reply.body };
}

async function positions(pool: pg.Pool, consumer: string): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ topic: string; partition: number; next_offset: string }>(
    'SELECT topic, partition, next_offset::text FROM projector_positions WHERE consumer = $1',
    [consumer],
  );
  return Object.fromEntries(rows.map((r) => [`${r.topic}/${r.partition}`, r.next_offset]));
}

describe('projector over a deleted, recreated or truncated topic', () => {
  let testbed: ProjectorTestbed | undefined;
  let running: ProjectorProcess | undefined;
  // One per test: a kafkajs admin keeps refreshing the metadata of every topic it saw, deleted ones too.
  let admin = operatorAdmin();

  /** A testbed of its own and a projector on it that has applied `writer`'s events. */
  const caughtUpOn = async (writer: EventWriter, clientId: string) => {
    const prefix = uniqueTopicPrefix();
    const topics = topicNames(prefix);
    const group = uniqueName('projector');
    admin = operatorAdmin();
    testbed = await openProjectorTestbed({ prefix, clientId, poolSize: 4, logger });
    const { pool, broker, producer, db } = testbed;
    running = await startProjectorProcess(projectorConfig(db, prefix, group), systemClock, logger, {
      listen: false,
    });
    sendingDevToken(running.app);
    await produce(producer, topics, writer.events);
    await waitFor('catch-up', () => caughtUp(pool, broker, topics, group));
    return { prefix, topics, group, pool, broker, producer, db, running };
  };

  afterEach(async () => {
    await running?.process.close();
    await testbed?.close();
    await admin.disconnect();
    running = undefined;
    testbed = undefined;
  });

  it('given applied products, when the products topic is deleted and recreated with fewer events, then /health fails naming it and nothing of the new topic is applied or skipped silently', async () => {
    // given
    const writer = new EventWriter();
    const categoryId = writer.category('tools');
    for (let i = 0; i < 60; i++) writer.product({ categoryId });
    const { topics, group, pool, producer } = await caughtUpOn(writer, 'projector-recreated-test');
    expect((await health(running!)).status).toBe(200);
    const before = await positions(pool, group);

    // when: the topic is deleted and recreated, and one new product lands on it
    await admin.connect();
    await retrying(() => admin.deleteTopics({ topics: [topics.products] }));
    await waitFor('topic deleted', async () => !(await admin.listTopics()).includes(topics.products));
    await retrying(() =>
      admin.createTopics({
        waitForLeaders: false,
        topics: topicSpecs(topics)
          .filter((spec) => spec.topic === topics.products)
          .map((spec) => ({ topic: spec.topic, numPartitions: spec.partitions, replicationFactor: 1 })),
      }),
    );
    await retrying(() => admin.fetchTopicOffsets(topics.products));
    const late = new EventWriter();
    const newProduct = late.product({ categoryId });
    await produce(producer, topics, late.events.slice(-1));

    // then
    let last = { status: 0, body: '' };
    await waitFor(
      '/health to fail',
      async () => (last = await health(running!)).status === 503,
      20_000,
    ).catch(() => undefined);
    expect(last.status).toBe(503);
    expect(last.body).toContain(topics.products);
    expect(last.body).toMatch(/stored next offset \d+ is beyond the end offset \d+/);
    await sleep(2_000);
    const applied = await pool.query('SELECT 1 FROM product_summary WHERE id = $1', [newProduct]);
    expect(applied.rowCount).toBe(0);
    expect(await positions(pool, group)).toEqual(before);

    // and the README's recovery, a rebuild, replays the recreated topic and the projector goes on
    expect((await running!.app.inject({ method: 'POST', url: '/admin/rebuild' })).statusCode).toBe(202);
    expect(await rebuildFinished(running!.app, 60_000)).toMatchObject({ state: 'done' });
    await waitFor('/health to recover', async () => (await health(running!)).status === 200, 20_000);
    const views = await pool.query<{ id: string }>('SELECT id FROM product_summary');
    expect(views.rows.map((row) => row.id)).toEqual([newProduct]);
  });

  it('given a topic whose earliest offset moved past the stored positions, then /health fails and a rebuild refuses it, exits non-zero and swaps nothing in', async () => {
    // given
    const writer = new EventWriter();
    for (let i = 0; i < 30; i++) writer.category(`c${i}`);
    const { prefix, topics, group, pool, db, broker } = await caughtUpOn(writer, 'projector-truncated-test');
    const categories = (await pool.query('SELECT id FROM category_view')).rowCount;
    const ends = await broker.endOffsets(topics.categories);
    const truncated = ends.find((end) => Number(end.offset) > 0)!;

    // when: the partition loses its records (retention, or deleteRecords), and its positions are set back
    // to 0 as a careless reset would leave them
    await admin.connect();
    await retrying(() => admin.fetchTopicMetadata({ topics: [topics.categories] }));
    await retrying(() =>
      admin.deleteTopicRecords({
        topic: topics.categories,
        partitions: [{ partition: truncated.partition, offset: truncated.offset }],
      }),
    );
    await pool.query('UPDATE projector_positions SET next_offset = 0 WHERE consumer = $1 AND topic = $2', [
      group,
      topics.categories,
    ]);

    // then: /health fails naming the partition and both offsets
    let last = { status: 0, body: '' };
    await waitFor(
      '/health to fail',
      async () => (last = await health(running!)).status === 503,
      20_000,
    ).catch(() => undefined);
    expect(last.status).toBe(503);
    expect(last.body).toContain(`${topics.categories}/${truncated.partition}`);
    expect(last.body).toContain(`earliest offset ${truncated.offset}`);

    // and a rebuild refuses the topic, in the running projector and as a command
    expect((await running!.app.inject({ method: 'POST', url: '/admin/rebuild' })).statusCode).toBe(202);
    const refused = await rebuildFinished(running!.app, 60_000);
    expect(refused.state).toBe('failed');
    expect(refused.error).toContain(
      `${topics.categories}/${truncated.partition} starts at offset ${truncated.offset}`,
    );
    const rebuild = spawnProjectorCommand(['rebuild'], db, prefix, group);
    expect(await exitOf(rebuild, 60_000)).toMatch(/^exit code [1-9]/);
    expect((await pool.query('SELECT id FROM category_view')).rowCount).toBe(categories);
    const leftovers = await pool.query(`SELECT 1 FROM pg_class WHERE relname LIKE '%\\_\\_old'`);
    expect(leftovers.rowCount).toBe(0);
  }, 120_000);
});
