import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProjectorProcess } from '../../src/apps/projector.js';
import { MAX_PRICE_AMOUNT } from '../../src/contracts/bounds.js';
import { topicNames } from '../../src/contracts/topics.js';
import type { Broker, MessageProducer } from '../../src/messaging/kafka.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix, type TestDatabase } from '../../testkit/isolation.js';
import {
  caughtUp,
  projectorConfig,
  waitFor,
  openProjectorTestbed,
  type ProjectorTestbed,
} from './projector.fixtures.js';
import { EventWriter, mixedStream, produce, type StreamEvent } from '../../testkit/events.js';
import { expectedViews } from '../../testkit/model.js';
import { readViews } from '../../testkit/views.js';
import { seededRandom } from '../../testkit/random.js';

const logger = createLogger('projector-test', 'error');

/** Text the write APIs accept (bounds.ts) that SQL quoting, escaping or encoding could change. */
const HOSTILE_TEXTS = [
  '😀 👩‍👩‍👧 🇫🇷 𝕏',
  'e\u0301 a\u0308\u0323 Z\u0324\u0354',
  '\u202eabc\u202c \u200fשלום\u200e',
  `"double" 'single' \`back\``,
  '\\ \\\\ \\u0000 \\n \\"',
  '$1 $$ $& ${x}',
  "E'\\x00' E'' '; DROP TABLE product_summary; --",
  '\u0001\t\n\r\u001f\u007f\u2028\ufeff',
  '{"a": 1} {x,y} NULL \\N',
];

/** A category of products at the largest price, each with hostile text in every field and a review. */
function hostileAggregates(writer: EventWriter): void {
  const categoryId = writer.category('hostile 😀 \'"\\', undefined, HOSTILE_TEXTS.join(' | '));
  HOSTILE_TEXTS.forEach((text, i) => {
    const productId = writer.product({
      sku: `HOSTILE-${i}`,
      name: text,
      description: text,
      categoryId,
      price: MAX_PRICE_AMOUNT - i,
      attributes: {
        [`key ${text}`]: text,
        nested: { list: [text, 0.1, -1.5e-7, 1 / 3, Number.MAX_SAFE_INTEGER, null, true, {}] },
      },
    });
    writer.review({ productId, rating: 1 + (i % 5), author: text, title: text, body: text });
  });
}

describe('projector views', () => {
  let testbed: ProjectorTestbed;
  let db: TestDatabase;
  let pool: pg.Pool;
  let broker: Broker;
  let producer: MessageProducer;
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const produced: StreamEvent[] = [];

  beforeAll(async () => {
    testbed = await openProjectorTestbed({ prefix, clientId: 'projector-test', poolSize: 3, logger });
    ({ db, pool, broker, producer } = testbed);
  });

  afterAll(async () => {
    await testbed?.close();
  });

  it('given a mixed stream with duplicates and out-of-order events, when projected, then the views match the newest state of every aggregate', async () => {
    // given: a random stream of creates, edits, moves and deletes (reviews before products, products before categories)
    const writer = new EventWriter();
    mixedStream(writer, seededRandom(42), { categories: 6, products: 60, reviews: 300, edits: 400 });
    // ... and text and attributes at the edges of what the write APIs accept, compared field by field
    hostileAggregates(writer);
    const random = seededRandom(7);
    const duplicates = writer.events.filter(() => random() < 0.2);
    // ... and stale versions delivered after newer ones (a late "updated" after a delete included)
    const stale = writer.events.filter((e) => e.envelope.aggregateversion < 3 && random() < 0.3);
    produced.push(...writer.events, ...duplicates, ...stale);
    await produce(producer, topics, produced);

    // when
    const running = await startProjectorProcess(projectorConfig(db, prefix, group), systemClock, logger, {
      listen: false,
    });
    try {
      await waitFor('catch-up', () => caughtUp(pool, broker, topics, group));
    } finally {
      await running.process.close();
    }

    // then
    const expected = expectedViews(produced);
    expect(expected.products.size).toBeGreaterThan(10);
    expect([...expected.reviews.values()].some((r) => r.productName === null)).toBe(true);
    expect(await readViews(pool)).toEqual(expected);
    // and the comparison sees a drift in any column, one at a time (rolled back)
    for (const [table, change] of [
      ['category_view', `description = description || ' '`],
      ['category_view', `updated_at = updated_at + interval '1 ms'`],
      ['product_summary', `sku = sku || 'x'`],
      ['product_summary', `description = description || ' '`],
      ['product_summary', `price_currency = 'USD'`],
      ['product_summary', `attributes = attributes || '{"x": 1}'`],
      ['product_summary', `created_at = created_at + interval '1 ms'`],
      ['product_summary', `last_review_at = last_review_at + interval '1 ms'`],
      ['review_view', `author = author || ' '`],
      ['review_view', `title = title || ' '`],
      ['review_view', `body = body || ' '`],
      ['review_view', `created_at = created_at + interval '1 ms'`],
    ] as const) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const column = /^\w+/.exec(change)![0];
        const { rowCount } = await client.query(
          `UPDATE ${table} SET ${change}
           WHERE id = (SELECT id FROM ${table} WHERE ${column} IS NOT NULL ORDER BY id LIMIT 1)`,
        );
        expect(rowCount, `${table} ${change}`).toBe(1);
        expect(await readViews(client), `${table} ${change}`).not.toEqual(expected);
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    }
    const versions = await pool.query<{ aggregate_id: string; version: number; deleted: boolean }>(
      'SELECT aggregate_id, version, deleted FROM applied_versions',
    );
    const newest = new Map<string, { version: number; deleted: boolean }>();
    for (const { envelope } of produced) {
      const seen = newest.get(envelope.subject);
      if (!seen || envelope.aggregateversion > seen.version)
        newest.set(envelope.subject, {
          version: envelope.aggregateversion,
          deleted: envelope.type.includes('.deleted.'),
        });
    }
    expect(
      new Map(versions.rows.map((r) => [r.aggregate_id, { version: Number(r.version), deleted: r.deleted }])),
    ).toEqual(newest);
    // the last batch's commit is recorded: a WAL position already written, no older than the last batch
    const commit = await pool.query<{
      batch_events: number;
      lsn_written: boolean;
      after_last_batch: boolean;
    }>(
      `SELECT batch_events, commit_lsn <= pg_current_wal_lsn() AS lsn_written,
         committed_at >= (SELECT max(applied_at) FROM applied_versions) AS after_last_batch
       FROM projector_commits WHERE consumer = $1`,
      [group],
    );
    expect(commit.rows).toHaveLength(1);
    expect(commit.rows[0]).toMatchObject({ lsn_written: true, after_last_batch: true });
    expect(commit.rows[0]!.batch_events).toBeGreaterThan(0);
  });

  it('given projected views, when every topic is replayed from offset 0 by a new consumer on the same store, then nothing changes', async () => {
    // given
    const snapshot = async () => ({
      views: await readViews(pool),
      applied: (
        await pool.query<Record<string, unknown>>('SELECT * FROM applied_versions ORDER BY aggregate_id')
      ).rows,
    });
    const before = await snapshot();
    // when: positions reset, new consumer group (so no Kafka state either)
    await pool.query('DELETE FROM projector_positions WHERE consumer = $1', [group]);
    const running = await startProjectorProcess(projectorConfig(db, prefix, group), systemClock, logger, {
      listen: false,
    });
    try {
      await waitFor('replay', () => caughtUp(pool, broker, topics, group));
    } finally {
      await running.process.close();
    }
    // then
    expect(await snapshot()).toEqual(before);
  });

  it('given a product, when its delete arrives and then a late older update, then the product stays deleted (tombstone)', async () => {
    // given
    const writer = new EventWriter();
    const id = writer.product({ name: 'doomed' });
    writer.product({ id, name: 'renamed' });
    writer.deleteProduct(id);
    const [created, updated, deleted] = writer.events;
    // when: v1, v3 (delete), then v2 late, then v1 again
    await produce(producer, topics, [created!, deleted!, updated!, created!]);
    produced.push(created!, deleted!, updated!, created!);
    const running = await startProjectorProcess(projectorConfig(db, prefix, group), systemClock, logger, {
      listen: false,
    });
    try {
      await waitFor('catch-up', () => caughtUp(pool, broker, topics, group));
    } finally {
      await running.process.close();
    }
    // then
    expect((await pool.query('SELECT 1 FROM product_summary WHERE id = $1', [id])).rowCount).toBe(0);
    expect(
      (await pool.query('SELECT version, deleted FROM applied_versions WHERE aggregate_id = $1', [id])).rows,
    ).toEqual([{ version: 3, deleted: true }]);
    expect(await readViews(pool)).toEqual(expectedViews(produced));
  });
  it('given views that already hold products and reviews, when reviews are added, re-rated and deleted over many small transactions, then the rating summaries match the source', async () => {
    // given: products and reviews already projected
    const writer = new EventWriter();
    mixedStream(writer, seededRandom(99), { categories: 3, products: 20, reviews: 80, edits: 0 });
    const before = writer.events.splice(0);
    produced.push(...before);
    await produce(producer, topics, before);
    const config = { ...projectorConfig(db, prefix, group), LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '15' };
    const running = await startProjectorProcess(config, systemClock, logger, { listen: false });
    try {
      await waitFor('first catch-up', () => caughtUp(pool, broker, topics, group));

      // when: new reviews on those products, rating edits (some twice in a row) and deletes, applied
      // at most 15 events per transaction, so they change products that are already in the view
      const random = seededRandom(100);
      const products = writer.liveProductIds();
      for (let i = 0; i < 240; i++) {
        const reviews = writer.live('review');
        const roll = random();
        if (roll < 0.45) writer.review({ productId: products[i % products.length]!, rating: 1 + (i % 5) });
        else if (roll < 0.85) writer.review({ id: reviews[i % reviews.length]!, rating: 1 + ((i * 3) % 5) });
        else writer.deleteReview(reviews[i % reviews.length]!);
      }
      const after = writer.events.splice(0);
      produced.push(...after, ...after.slice(0, 30)); // and some duplicates
      await produce(producer, topics, [...after, ...after.slice(0, 30)]);
      await waitFor('second catch-up', () => caughtUp(pool, broker, topics, group));
    } finally {
      await running.process.close();
    }

    // then
    expect(await readViews(pool)).toEqual(expectedViews(produced));
  });
});
