import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterTopic, topicNames } from '../../src/contracts/topics.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import {
  createTestDatabase,
  uniqueName,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../testkit/isolation.js';
import { caughtUp, exitOf, spawnProjector, storedTotal, waitFor } from './projector.fixtures.js';
import { EventWriter, mixedStream, produce } from '../../testkit/events.js';
import { expectedViews } from '../../testkit/model.js';
import { readViews } from '../../testkit/views.js';
import { seededRandom } from '../../testkit/random.js';
import { setupTestTopics, testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('projector-test', 'error');

describe('projector killed mid-stream', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let broker: Broker;
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const children: ChildProcess[] = [];

  /** Several batches per run, so a crash at the third batch leaves committed ones before it. */
  const startChild = (env: Record<string, string> = {}) => {
    const child = spawnProjector(db, prefix, group, { LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '5000', ...env });
    children.push(child);
    return child;
  };
  const stored = () => storedTotal(pool, group);

  beforeAll(async () => {
    db = await createTestDatabase('readmodel');
    pool = new pg.Pool({ connectionString: db.url, max: 3 });
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'projector-crash-test',
      logger,
    });
    await setupTestTopics(prefix);
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await broker?.deleteTopics([topics.products, topics.categories, topics.reviews, deadLetterTopic(prefix)]);
    await broker?.close();
    await pool?.end();
    await db?.drop();
  });

  it('given a projector killed just before a COMMIT, just after one, and at a random moment, when restarted, then every change is applied exactly once', async () => {
    // given: a backlog of events (rating summaries would double-count if a batch were applied twice)
    const writer = new EventWriter();
    mixedStream(writer, seededRandom(11), {
      categories: 10,
      products: 2_000,
      reviews: 30_000,
      edits: 20_000,
    });
    const producer = await broker.producer();
    await produce(producer, topics, writer.events);
    await producer.close();
    const total = writer.events.length;

    // when: it dies without warning three ways (each restart waits out the dead member's session)
    const deaths = [
      {
        how: 'SIGKILLs itself after the views of its 3rd batch, before the COMMIT',
        crashAt: 'projector.before-commit:3',
      },
      { how: 'SIGKILLs itself right after the COMMIT of its 3rd batch', crashAt: 'projector.after-commit:3' },
      { how: 'is SIGKILLed from outside after some progress', crashAt: undefined },
    ];
    for (const { how, crashAt } of deaths) {
      const before = await stored();
      const child = startChild(crashAt ? { LOCUS_CRASH_AT: crashAt } : {});
      // a missing crash point would leave the child running: give up after 2 minutes instead
      const exited = exitOf(child, 120_000);
      if (!crashAt) {
        await waitFor('progress before the kill', async () => (await stored()) > before + 2_000, 90_000);
        child.kill('SIGKILL');
      }
      // a crash point kills the process itself: it must have been reached, and what came before it committed
      expect(await exited, how).toBe('SIGKILL');
      expect(await stored(), how).toBeGreaterThan(before);
    }
    expect(await stored()).toBeLessThan(total);
    const last = startChild();
    await waitFor('catch-up after the restarts', () => caughtUp(pool, broker, topics, group), 120_000);
    last.kill('SIGTERM');
    await new Promise((resolve) => last.once('exit', resolve));

    // then
    expect(await readViews(pool)).toEqual(expectedViews(writer.events));
    const reviews = await pool.query<{ n: number }>(
      'SELECT sum(review_count)::int AS n FROM product_summary',
    );
    expect(reviews.rows[0]?.n).toBe(
      [...expectedViews(writer.events).products.values()].reduce((n, p) => n + p.reviewCount, 0),
    );
  }, 420_000);
});
