import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { caughtUp, rebuildFinished, waitFor, projectorPerSuite } from './projector.fixtures.js';
import { EventWriter, mixedStream, produce } from '../../testkit/events.js';
import { expectedViews } from '../../testkit/model.js';
import { readViews } from '../../testkit/views.js';
import { seededRandom } from '../../testkit/random.js';

const logger = createLogger('projector-test', 'error');

/** Reads that must hold at every instant: the tables exist, are not empty, and agree with each other. */
const READS = [
  `SELECT count(*)::int AS n FROM product_summary`,
  `SELECT count(*)::int AS n FROM category_view`,
  `SELECT count(*)::int AS n FROM product_summary p JOIN category_view c ON c.id = p.category_id`,
  `SELECT count(*)::int AS n FROM category_summary`,
  // a batch commits atomically, so within one statement the rating summaries match the reviews
  `SELECT CASE WHEN (SELECT coalesce(sum(review_count), 0) FROM product_summary)
     = (SELECT count(*) FROM review_view r JOIN product_summary p ON p.id = r.product_id)
     THEN (SELECT count(*)::int FROM review_view) ELSE -1 END AS n`,
];

describe('projector rebuild', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const suite = projectorPerSuite({ prefix, group, clientId: 'projector-rebuild-test', poolSize: 6, logger });

  const storageOptions = async () =>
    (
      await suite.pool.query<{ relname: string; reloptions: string[] | null }>(
        `SELECT relname, reloptions FROM pg_class WHERE relname IN ('product_summary', 'review_view')
         AND relkind = 'r' ORDER BY 1`,
      )
    ).rows;
  const indexNames = async () =>
    (
      await suite.pool.query<{
        tablename: string;
        indexname: string;
      }>(`SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename IN
      ('applied_versions', 'category_view', 'product_summary', 'review_view', 'category_summary') ORDER BY 1, 2`)
    ).rows;

  it('given live views, when rebuilt under concurrent reads and writes, then every read succeeds with data and the swapped-in views are correct', async () => {
    // given
    const writer = new EventWriter();
    const random = seededRandom(5);
    mixedStream(writer, random, { categories: 8, products: 300, reviews: 4_000, edits: 3_000 });
    await produce(suite.producer, topics, writer.events);
    await waitFor('initial catch-up', () => caughtUp(suite.pool, suite.broker, topics, group));
    const indexesBefore = await indexNames();
    const storageBefore = await storageOptions();
    expect(storageBefore.every((table) => table.reloptions?.some((o) => o.startsWith('fillfactor=')))).toBe(
      true,
    );

    // when: readers and a writer run all through the rebuild
    let stop = false;
    const reads = { ok: 0, failed: [] as string[], empty: 0 };
    const reader = async () => {
      while (!stop) {
        for (const sql of READS) {
          try {
            const n = (await suite.pool.query<{ n: number }>(sql)).rows[0]!.n;
            if (n > 0) reads.ok += 1;
            else reads.empty += 1;
          } catch (error) {
            reads.failed.push((error as Error).message);
          }
        }
      }
    };
    const writes = async () => {
      let sent = writer.events.length;
      while (!stop) {
        const products = writer.liveProductIds();
        for (let i = 0; i < 50; i++) {
          const id = products[Math.floor(random() * products.length)]!;
          if (random() < 0.5) writer.product({ id, price: 100 + Math.floor(random() * 5000) });
          else writer.review({ productId: id, rating: 1 + Math.floor(random() * 5) });
        }
        await produce(suite.producer, topics, writer.events.slice(sent));
        sent = writer.events.length;
        await sleep(50);
      }
    };
    const loops = [reader(), reader(), writes()];
    const started = await suite.running.app.inject({ method: 'POST', url: '/admin/rebuild' });
    expect(started.statusCode).toBe(202);
    const again = await suite.running.app.inject({ method: 'POST', url: '/admin/rebuild' });
    expect(again.statusCode).toBe(409);
    const status = await rebuildFinished(suite.running.app, 120_000);
    stop = true;
    await Promise.all(loops);
    await waitFor('final catch-up', () => caughtUp(suite.pool, suite.broker, topics, group));

    // then
    expect(status).toMatchObject({ state: 'done' });
    expect(status.applied).toBeGreaterThanOrEqual(7_000);
    expect(reads.failed).toEqual([]);
    expect(reads.empty).toBe(0);
    expect(reads.ok).toBeGreaterThan(READS.length * 2);
    expect(await readViews(suite.pool)).toEqual(expectedViews(writer.events));
    expect(await indexNames()).toEqual(indexesBefore);
    expect(await storageOptions()).toEqual(storageBefore);
    const leftovers = await suite.pool.query(
      `SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_\\_next' OR tablename LIKE '%\\_\\_old'`,
    );
    expect(leftovers.rows).toEqual([]);
    const positions = await suite.pool.query('SELECT DISTINCT consumer FROM projector_positions');
    expect(positions.rows).toEqual([{ consumer: group }]);
  }, 240_000);
});
