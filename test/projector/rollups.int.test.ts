import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import type { ReviewState } from '../../src/contracts/review.events.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { caughtUp, rebuildFinished, waitFor, projectorPerSuite } from './projector.fixtures.js';
import { EventWriter, mixedStream, produce, type StreamEvent } from '../../testkit/events.js';
import { expectedViews } from '../../testkit/model.js';
import { seededRandom } from '../../testkit/random.js';

const logger = createLogger('projector-test', 'error');
const DAY = 86_400_000;
const FIRST_DAY = Date.parse('2025-11-20T00:00:00Z');

/**
 * Spreads the reviews of a generated stream over 30 UTC days at any time of day, and moves one in ten
 * edits to another day: every event of a review carries its creation time, as its source would.
 */
function spreadOverDays(events: readonly StreamEvent[], random: () => number): void {
  const createdAt = new Map<string, string>();
  const someTime = () => new Date(FIRST_DAY + Math.floor(random() * 30 * DAY)).toISOString();
  for (const { envelope } of events) {
    if (envelope.aggregatetype !== 'review' || envelope.type.includes('.deleted.')) continue;
    const state = envelope.data as ReviewState;
    if (!createdAt.has(state.id) || random() < 0.1) createdAt.set(state.id, someTime());
    (envelope as { data: unknown }).data = { ...state, createdAt: createdAt.get(state.id)! };
  }
}

type Counters = [number, number, number, number, number, number, number];

/** The rollups the model says: per product and UTC day, per category (or none) of known products and day. */
function expectedRollups(events: readonly StreamEvent[]) {
  const views = expectedViews(events);
  const productDays = new Map<string, Counters>();
  const categoryDays = new Map<string, Counters>();
  const add = (map: Map<string, Counters>, key: string, rating: number) => {
    const counters = map.get(key) ?? [0, 0, 0, 0, 0, 0, 0];
    counters[0] += 1;
    counters[1] += rating;
    counters[1 + rating]! += 1;
    map.set(key, counters);
  };
  for (const review of views.reviews.values()) {
    const day = review.createdAt.slice(0, 10);
    add(productDays, `${review.productId} ${day}`, review.rating);
    const product = views.products.get(review.productId);
    if (product) add(categoryDays, `${product.categoryId ?? 'none'} ${day}`, review.rating);
  }
  return { productDays, categoryDays };
}

async function readRollups(pool: pg.Pool) {
  const read = async (table: string, key: string) => {
    const { rows } = await pool.query<{ key: string; counters: Counters }>(
      `SELECT ${key} || ' ' || to_char(day, 'YYYY-MM-DD') AS key,
         ARRAY[review_count, rating_sum, rating_1, rating_2, rating_3, rating_4, rating_5] AS counters
       FROM ${table}`,
    );
    return new Map(rows.map((row) => [row.key, row.counters]));
  };
  return {
    productDays: await read('product_day_rollup', 'product_id::text'),
    categoryDays: await read('category_day_rollup', `coalesce(category_id::text, 'none')`),
  };
}

/** Windows of every shape: whole days, partial days at both edges, inside one day, two half days. */
const WINDOWS = [
  ['2025-11-01T00:00:00Z', '2026-01-01T00:00:00Z'],
  ['2025-11-23T13:17:00Z', '2025-12-11T05:00:00.5Z'],
  ['2025-12-01T00:00:00Z', '2025-12-02T00:00:00Z'],
  ['2025-12-05T03:00:00Z', '2025-12-05T20:00:00Z'],
  ['2025-12-05T12:00:00Z', '2025-12-06T12:00:00Z'],
] as const;

/** Every raw procedure beside its rollup twin, with the same arguments, over the WINDOWS. */
async function rawAndRollup(pool: pg.Pool): Promise<{ call: string; raw: unknown[]; rollup: unknown[] }[]> {
  const { rows: some } = await pool.query<{ product_id: string; category_id: string }>(
    `SELECT p.id AS product_id, p.category_id FROM product_summary p
     WHERE p.category_id IS NOT NULL ORDER BY p.review_count DESC, p.id LIMIT 1`,
  );
  const { product_id: productId, category_id: categoryId } = some[0]!;
  const calls: [string, (from: string, to: string) => unknown[]][] = [
    ['locus_top_rated($1, $2, $3, $4, $5, $6)', (f, t) => [null, f, t, 1, 5, 5]],
    ['locus_top_rated($1, $2, $3, $4, $5, $6)', (f, t) => [categoryId, f, t, 3, 3, 2.5]],
    ['locus_rating_trend($1, $2, $3, $4, $5)', (f, t) => [null, null, f, t, 'day']],
    ['locus_rating_trend($1, $2, $3, $4, $5)', (f, t) => [null, categoryId, f, t, 'week']],
    ['locus_rating_trend($1, $2, $3, $4, $5)', (f, t) => [productId, null, f, t, 'month']],
    ['locus_category_report($1, $2, $3)', (f, t) => [null, f, t]],
    ['locus_category_report($1, $2, $3)', (f, t) => [categoryId, f, t]],
    ['locus_category_price_bands($1, $2, $3, $4)', (f, t) => [null, f, t, [500, 2000, 5000]]],
  ];
  const compared = [];
  for (const [from, to] of WINDOWS) {
    for (const [call, args] of calls) {
      const values = args(from, to);
      const raw = (await pool.query(`SELECT * FROM ${call}`, values)).rows;
      const rollup = (await pool.query(`SELECT * FROM ${call.replace('(', '_rollup(')}`, values)).rows;
      compared.push({ call: `${call} ${JSON.stringify(values)}`, raw, rollup });
    }
  }
  return compared;
}

describe('rollups kept by the projector', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const suite = projectorPerSuite({ prefix, group, clientId: 'rollups-test', poolSize: 3, logger });
  const produced: StreamEvent[] = [];

  it('given a history with re-ratings, deletes, category moves, duplicates and stale events, when projected, then the rollups match the model and every rollup procedure answers as its raw twin', async () => {
    // given: a random history whose reviews span 30 days, some edits moving a review to another day
    const writer = new EventWriter();
    const random = seededRandom(17);
    mixedStream(writer, random, { categories: 5, products: 40, reviews: 1_500, edits: 1_500 });
    // ... and a product in no category, whose reviews count for the whole catalog only
    const uncategorised = writer.product({ categoryId: null });
    for (let i = 0; i < 20; i++) writer.review({ productId: uncategorised, rating: 1 + (i % 5) });
    spreadOverDays(writer.events, random);
    const duplicates = writer.events.filter(() => random() < 0.2);
    const stale = writer.events.filter((e) => e.envelope.aggregateversion < 3 && random() < 0.3);
    produced.push(...writer.events, ...duplicates, ...stale);

    // when
    await produce(suite.producer, topics, produced, 300);
    await waitFor('catch-up', () => caughtUp(suite.pool, suite.broker, topics, group));

    // then
    const expected = expectedRollups(produced);
    expect([...expected.categoryDays.keys()].some((key) => key.startsWith('none '))).toBe(true);
    expect(expected.productDays.size).toBeGreaterThan(300);
    expect(await readRollups(suite.pool)).toEqual(expected);
    const compared = await rawAndRollup(suite.pool);
    expect(compared.filter((c) => c.raw.length > 0).length).toBeGreaterThan(compared.length / 2);
    for (const { call, raw, rollup } of compared) expect(rollup, call).toEqual(raw);
  });

  it('given rollups that drifted, when the views are rebuilt, then the rebuilt rollups match the model again', async () => {
    // given: rows lost and a count changed behind the projector's back
    await suite.pool.query('DELETE FROM product_day_rollup WHERE day < $1', ['2025-12-01']);
    await suite.pool.query(
      'UPDATE category_day_rollup SET review_count = review_count + 1, rating_sum = rating_sum + 5',
    );
    expect(await readRollups(suite.pool)).not.toEqual(expectedRollups(produced));

    // when
    const started = await suite.running.app.inject({ method: 'POST', url: '/admin/rebuild' });
    expect(started.statusCode).toBe(202);
    const status = await rebuildFinished(suite.running.app, 120_000);

    // then
    expect(status).toMatchObject({ state: 'done' });
    expect(await readRollups(suite.pool)).toEqual(expectedRollups(produced));
    for (const { call, raw, rollup } of await rawAndRollup(suite.pool)) expect(rollup, call).toEqual(raw);
  });
});
