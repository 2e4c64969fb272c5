import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { caughtUp, waitFor, projectorPerSuite } from './projector.fixtures.js';
import { EventWriter, produce, toMessage } from '../../testkit/events.js';

const logger = createLogger('projector-test', 'error');

/**
 * Poison parks the smallest scope: a bad key, a failing category summary or a deterministic store error
 * parks at most the key of the event that caused it, and the projector keeps up with everything else.
 */
describe('projector poison', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const suite = projectorPerSuite({ prefix, group, clientId: 'projector-poison-test', poolSize: 3, logger });
  const writer = new EventWriter();

  const versionOf = async (id: string) =>
    (await suite.pool.query<{ version: number }>('SELECT version FROM product_summary WHERE id = $1', [id]))
      .rows[0]?.version ?? null;
  const letters = async () =>
    (
      await suite.pool.query<{ status: string; error_code: string; reason: string; message_key: string }>(
        'SELECT status, error_code, reason, message_key FROM dead_letters WHERE consumer = $1 ORDER BY id',
        [group],
      )
    ).rows;
  const summaryOf = async (categoryId: string) =>
    (
      await suite.pool.query<{ product_count: number; price_min: number }>(
        'SELECT product_count, price_min FROM category_summary WHERE category_id = $1',
        [categoryId],
      )
    ).rows[0] ?? null;
  const caughtUpSoon = () =>
    waitFor('catch-up', () => caughtUp(suite.pool, suite.broker, topics, group), 30_000);

  it('given a product event whose Kafka key holds a NUL, among ordinary events, when projected, then only it is parked and everything else applies', async () => {
    // given: the same product event twice, once under its own key and once under that key with a NUL
    const before = writer.product({ name: 'ordinary before' });
    const target = writer.product({ name: 'keyed with a NUL' });
    const poisoned = writer.events.find((e) => e.key === target)!;
    await produce(suite.producer, topics, writer.events.splice(0));
    await suite.producer.send([
      { ...toMessage(topics, poisoned), key: `${target}\u0000x`, headers: { 'trace\u0000id': 'a\u0000b' } },
    ]);
    const after = writer.product({ name: 'ordinary after' });
    writer.product({ id: target, name: 'keyed with a NUL v2' });
    await produce(suite.producer, topics, writer.events.splice(0));

    // when
    await caughtUpSoon();

    // then
    expect([await versionOf(before), await versionOf(after), await versionOf(target)]).toEqual([1, 1, 2]);
    const rows = await letters();
    expect(rows.map((r) => [r.status, r.error_code, r.message_key])).toEqual([
      ['parked', 'LOCUS_EVENT_INVALID', `${target}\\u0000x`],
    ]);
    expect(rows[0]!.reason).toMatch(/key/);
    const stored = await suite.pool.query<{ headers: Record<string, string> }>(
      'SELECT headers FROM dead_letters WHERE consumer = $1',
      [group],
    );
    expect(stored.rows[0]!.headers).toEqual({ 'trace\\u0000id': 'a\\u0000b' });
  });

  it('given a category whose summary the store refuses, when products of it and of another category are projected, then no event is parked, every product row is right, and the summary heals once it can', async () => {
    // given: a check on this test's own category_summary that fails for one category
    const refused = randomUUID();
    const other = writer.category('other');
    await suite.pool.query(
      `ALTER TABLE category_summary ADD CONSTRAINT refused_category CHECK (category_id <> '${refused}')`,
    );
    writer.category('refused', refused);
    const inRefused = [1, 2, 3].map((i) => writer.product({ categoryId: refused, price: 100 * i }));
    const inOther = [1, 2].map((i) => writer.product({ categoryId: other, price: 10 * i }));
    writer.review({ productId: inRefused[0]!, rating: 4 });
    const lettersBefore = (await letters()).length;
    await produce(suite.producer, topics, writer.events.splice(0));

    // when
    await caughtUpSoon();

    // then
    expect((await letters()).length).toBe(lettersBefore);
    for (const id of [...inRefused, ...inOther]) expect(await versionOf(id)).toBe(1);
    const categories = await suite.pool.query<{ category_id: string; n: number }>(
      'SELECT category_id, count(*)::int AS n FROM product_summary WHERE category_id IS NOT NULL GROUP BY 1',
    );
    expect(new Map(categories.rows.map((r) => [r.category_id, r.n]))).toEqual(
      new Map([
        [refused, 3],
        [other, 2],
      ]),
    );
    expect(await summaryOf(refused)).toBeNull();
    expect(await summaryOf(other)).toEqual({ product_count: 2, price_min: 10 });
    const metrics = await suite.running.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/locus_projector_summary_failures_total\{[^}]*\} [1-9]/);

    // when: a product of that category is parked for a fault of its own, fixed, and retried while the
    // summary still fails
    await suite.pool.query(
      `ALTER TABLE product_summary ADD CONSTRAINT not_this_one CHECK (name <> 'parked')`,
    );
    const parked = writer.product({ categoryId: refused, name: 'parked', price: 70 });
    await produce(suite.producer, topics, writer.events.splice(0));
    await caughtUpSoon();
    const letter = (
      await suite.pool.query<{ id: string }>(
        'SELECT id::text FROM dead_letters WHERE consumer = $1 AND message_key = $2',
        [group, parked],
      )
    ).rows[0]!;
    await suite.pool.query('ALTER TABLE product_summary DROP CONSTRAINT not_this_one');
    const retried = await suite.running.app.inject({
      method: 'POST',
      url: `/admin/dead-letters/${letter.id}/retry`,
    });

    // then: the retry applies it, and names the summary it could not refresh
    expect(retried.json()).toEqual({
      id: Number(letter.id),
      status: 'retried',
      released: [],
      staleCategories: [refused],
    });
    expect(await versionOf(parked)).toBe(1);

    // when: the store accepts the summary again and the category has another event
    await suite.pool.query('ALTER TABLE category_summary DROP CONSTRAINT refused_category');
    writer.product({ categoryId: refused, price: 50 });
    await produce(suite.producer, topics, writer.events.splice(0));
    await caughtUpSoon();

    // then
    expect(await summaryOf(refused)).toEqual({ product_count: 5, price_min: 50 });
  });

  it('given an event the store fails deterministically with a protocol violation, when projected, then it is parked after the batch attempts instead of being retried as an outage', async () => {
    // given: a trigger answers one product as a server does a message it cannot parse (SQLSTATE 08P01)
    await suite.pool.query(`
      CREATE FUNCTION refuse_as_protocol_violation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.name = 'unparseable' THEN
          RAISE EXCEPTION 'invalid message format' USING ERRCODE = 'protocol_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_as_protocol_violation BEFORE INSERT OR UPDATE ON product_summary
        FOR EACH ROW EXECUTE FUNCTION refuse_as_protocol_violation();`);
    const bad = writer.product({ name: 'unparseable' });
    const good = writer.product({ name: 'parseable' });
    const lettersBefore = (await letters()).length;
    await produce(suite.producer, topics, writer.events.splice(0));

    // when
    await caughtUpSoon();

    // then
    expect([await versionOf(bad), await versionOf(good)]).toEqual([null, 1]);
    const added = (await letters()).slice(lettersBefore);
    expect(added.map((r) => [r.status, r.message_key])).toEqual([['parked', bad]]);
    expect(added[0]!.reason).toMatch(/failed after \d+ attempts: invalid message format/);
  });
});
