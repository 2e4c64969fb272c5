import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { createLogger } from '../../src/shared/logger.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import { createBroker } from '../../src/messaging/kafka.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { runRelay } from '../../src/relay/relay.js';
import { createTestDatabase, uniqueTopicPrefix, type TestDatabase } from '../../testkit/isolation.js';
import { appendProductEvent, pendingRows, productKey } from './outbox-fixture.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('outbox-source-test', 'silent');

describe('PostgresOutboxSource', () => {
  let database: TestDatabase;
  let db: Kysely<CatalogDb>;
  let source: PostgresOutboxSource;

  beforeAll(async () => {
    database = await createTestDatabase('catalog');
    db = createKysely<CatalogDb>(createPool(database.url, { applicationName: 'outbox-source-test' }));
    source = new PostgresOutboxSource({ url: database.url });
  });

  afterAll(async () => {
    await source?.close();
    await db?.destroy();
    await database?.drop();
  });

  it('given an idle relay, when an event commits, then it is published within the idle poll interval', async () => {
    // given a relay over an empty outbox that has backed off to its longest wait (300 ms)
    const broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'poll-test',
      logger,
    });
    const producer = await broker.producer();
    const topic = `${uniqueTopicPrefix()}products`;
    await broker.ensureTopics([{ topic, partitions: 1 }]);
    const idleSource = new PostgresOutboxSource({ url: database.url, pollIntervalMs: 300 });
    const published: { key: string; at: number }[] = [];
    const relay = runRelay(idleSource, producer, {
      logger,
      onPublished: (events) => published.push(...events.map((e) => ({ key: e.key, at: Date.now() }))),
    });
    try {
      await sleep(1_500);

      // when an event is recorded
      const committedAt = Date.now();
      await appendProductEvent(db, topic, productKey(9), 1);
      while (published.length === 0 && Date.now() - committedAt < 10_000) await sleep(5);

      // then it goes out after at most one idle wait (plus the batch itself), not at some later poll
      expect(published.map((p) => p.key)).toEqual([productKey(9)]);
      expect(published[0]!.at - committedAt).toBeLessThan(300 + 700);
    } finally {
      await relay.stop();
      await idleSource.close();
      await producer.close();
      await broker.deleteTopics([topic]);
      await broker.close();
    }
  });

  it('hands out events in outbox order and marks them only after publish resolves', async () => {
    await appendProductEvent(db, 'any-topic', productKey(2), 1);
    await appendProductEvent(db, 'any-topic', productKey(2), 2);
    const pendingBefore = await pendingRows(db);
    const seen: number[] = [];
    const published = await source.publishBatch(100, async (events) => {
      seen.push(...events.filter((e) => e.key === productKey(2)).map((e) => e.envelope.aggregateversion));
      // still pending while publishing: the mark comes after
      expect(await pendingRows(db)).toBe(pendingBefore);
    });
    expect(published).toBe(pendingBefore);
    expect(seen).toEqual([1, 2]);
    expect(await pendingRows(db)).toBe(0);
    expect(await source.pendingCount()).toBe(0);
  });

  it('purges only published events older than the retention period', async () => {
    // given an old published event, a recent published one and an old unpublished one
    await db.deleteFrom('outbox').execute();
    for (let version = 1; version <= 3; version++)
      await appendProductEvent(db, 'any-topic', productKey(3), version);
    const ids = (await db.selectFrom('outbox').select('id').orderBy('id').execute()).map((r) => r.id);
    await db
      .updateTable('outbox')
      .set({ published_at: sql<Date>`now() - interval '8 days'` })
      .where('id', '=', ids[0]!)
      .execute();
    await db
      .updateTable('outbox')
      .set({ published_at: sql<Date>`now()` })
      .where('id', '=', ids[1]!)
      .execute();
    await db
      .updateTable('outbox')
      .set({ created_at: sql<Date>`now() - interval '9 days'` })
      .where('id', '=', ids[2]!)
      .execute();

    // when published events older than 7 days are purged
    const purged = await source.purgePublished(new Date(Date.now() - 7 * 24 * 3600 * 1000));

    // then only the old published one is gone
    expect(purged).toBe(1);
    const left = (await db.selectFrom('outbox').select('id').orderBy('id').execute()).map((r) => r.id);
    expect(left).toEqual([ids[1], ids[2]]);
  });
});
