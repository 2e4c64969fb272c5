import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewCreatedV1 } from '../../src/contracts/review.events.js';
import { decodeEvent } from '../../src/contracts/registry.js';
import { topicNames, topicSpecs } from '../../src/contracts/topics.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { runRelay } from '../../src/relay/relay.js';
import { ReviewOutboxSource } from '../../src/reviews/review-outbox.source.js';
import { confirmationId, outboxEntryOf, reviewCollections } from '../../src/reviews/review.model.js';
import { buildEvent } from '../../src/reviews/review.write.js';
import { createLogger } from '../../src/shared/logger.js';
import { aReview, startReviewsFixture, type ReviewsFixture } from '../reviews/support.js';
import { authHeaders } from '../support/auth.js';
import {
  createTestDatabase,
  uniqueTopicPrefix,
  withDatabase,
  type TestDatabase,
} from '../../testkit/isolation.js';
import { collectMessages, type Collector } from './kafka-collector.js';
import { eventually, startRelayProcess, type RelayProcess } from './relay-process.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('relay-poison-test', 'silent');

interface ListedDeadLetter {
  source: string;
  id: string;
  key: string;
  reason: string;
  parkedAt: string;
}

/**
 * Issue 13, item 1: a review whose title held U+0000 left an outbox entry whose event FerretDB (jsonb)
 * cannot store. The relay's resolver tried to roll that entry forward on every poll and failed the
 * whole batch, so no review event of any product reached Kafka again.
 */
describe('a poison entry in the reviews outbox (the real relay process)', () => {
  const prefix = uniqueTopicPrefix();
  const topic = topicNames(prefix).reviews;
  let fx: ReviewsFixture;
  let catalogDb: TestDatabase;
  let broker: Broker;
  let relay: RelayProcess | undefined;
  let collector: Collector;

  beforeAll(async () => {
    fx = await startReviewsFixture();
    catalogDb = await createTestDatabase('catalog');
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'relay-poison-test',
      logger,
    });
    await broker.ensureTopics(topicSpecs(topicNames(prefix)));
  });

  afterAll(async () => {
    await relay?.stop();
    await collector?.stop();
    await broker?.deleteTopics(Object.values(topicNames(prefix)) as string[]);
    await broker?.close();
    await catalogDb?.drop();
    await fx?.close();
  });

  const post = async (productId: string, title: string) => {
    const response = await fx.app.inject({
      method: 'POST',
      url: `/products/${productId}/reviews`,
      payload: { ...aReview, title },
    });
    expect(response.statusCode).toBe(201);
    return response.json<{ id: string }>().id;
  };
  const deadLetters = async () =>
    (
      (await (await fetch(`${relay!.url}/admin/dead-letters`, { headers: authHeaders() })).json()) as {
        items: ListedDeadLetter[];
      }
    ).items;

  it('parks the entry with its reason; other products flow; its product waits until retry or skip', async () => {
    // given the entry a create with U+0000 in its title left behind (the event insert failed after it)
    const poisoned = fx.newProduct();
    const stale = new Date(Date.now() - 60_000);
    const event = buildEvent({
      definition: ReviewCreatedV1,
      reviewId: randomUUID(),
      productId: poisoned,
      version: 1,
      previousSequence: 0,
      data: {
        id: randomUUID(),
        productId: poisoned,
        ...aReview,
        title: 'nul \u0000 here',
        createdAt: stale.toISOString(),
        updatedAt: stale.toISOString(),
      },
      now: stale,
      id: randomUUID(),
    });
    await reviewCollections(fx.db).outbox.insertOne(outboxEntryOf(event));

    // and a relay process over that reviews store
    relay = await startRelayProcess({
      ...catalogDb.env,
      LOCUS_MONGO_URL: withDatabase(process.env.LOCUS_MONGO_URL!, fx.db.databaseName),
      LOCUS_TOPIC_PREFIX: prefix,
    });
    collector = await collectMessages(broker, [topic]);

    // when reviews of other products are written, and one more of the poisoned product
    const others = [fx.newProduct(), fx.newProduct(), fx.newProduct()];
    for (const product of others) await post(product, 'fine');
    const behind = await post(poisoned, 'written after the poison');

    // then the other products' events reach Kafka; the poisoned product's later event does not
    await collector.waitFor(3, 30_000);
    expect(new Set(collector.messages.map((m) => m.key))).toEqual(new Set(others));

    // and the entry is listed as a relay dead letter with its reason
    expect(await eventually(async () => (await deadLetters()).length === 1)).toBe(true);
    const [letter] = await deadLetters();
    expect(letter).toMatchObject({ source: 'reviews', id: event._id, key: poisoned });
    expect(poisonReason(letter!)).toBe(true);

    // and /health is 200 but says degraded
    const health = await relay.health();
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.checks['relay-reviews']?.detail).toMatch(/degraded: 1 dead letter/);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(/locus_relay_dead_letters\{[^}]*source="reviews"[^}]*\} 1/);

    // when an operator retries it: the same failure parks it again, nothing of its product passes
    const retried = await fetch(`${relay.url}/admin/dead-letters/reviews/${event._id}/retry`, {
      method: 'POST',
      headers: authHeaders(),
    });
    expect(retried.status).toBe(200);
    const parkedAgain = async () => {
      const letters = await deadLetters();
      return letters.length === 1 && letters[0]!.parkedAt > letter!.parkedAt && poisonReason(letters[0]!);
    };
    expect(await eventually(parkedAgain)).toBe(true);
    await collector.settle(1_000);
    expect(collector.messages.filter((m) => m.key === poisoned)).toHaveLength(0);

    // and when the operator skips it: the event behind it is published and health is plain again
    const skipped = await fetch(`${relay.url}/admin/dead-letters/reviews/${event._id}/skip`, {
      method: 'POST',
      headers: authHeaders(),
    });
    expect(skipped.status).toBe(200);
    await collector.waitFor(4, 30_000);
    const released = collector.messages.filter((m) => m.key === poisoned).map((m) => decodeEvent(m.value));
    expect(released.map((e) => e.subject)).toEqual([behind]);
    expect(await deadLetters()).toEqual([]);
    const healed = await relay.health();
    expect(healed.body.status).toBe('ok');
    expect(healed.body.checks['relay-reviews']?.detail).not.toMatch(/degraded/);
    expect(await relay.stop()).toBe(0);
    relay = undefined;
  });

  it('parks an entry it cannot read (its envelope is not JSON) at once; skip releases its product', async () => {
    // given a confirmed outbox entry whose envelope text is not JSON, of a product with a review behind it
    const unreadable = fx.newProduct();
    const now = new Date();
    const event = buildEvent({
      definition: ReviewCreatedV1,
      reviewId: randomUUID(),
      productId: unreadable,
      version: 1,
      previousSequence: 0,
      data: {
        id: randomUUID(),
        productId: unreadable,
        ...aReview,
        createdAt: now.toISOString(),
        updatedAt: now.toISOString(),
      },
      now,
      id: randomUUID(),
    });
    const { outbox } = reviewCollections(fx.db);
    await outbox.insertOne({ ...outboxEntryOf(event), envelope: '{"specversion": "1.0", trunc' });
    await outbox.insertOne({
      _id: confirmationId(event._id),
      kind: 'confirmation',
      eventId: event._id,
      lane: event.lane,
      slot: event.slot,
    });
    const behind = await post(unreadable, 'behind the unreadable one');
    const other = fx.newProduct();
    const otherReview = await post(other, 'fine');
    const inProcess = await collectMessages(broker, [topic]);

    // when a relay runs
    const source = new ReviewOutboxSource(fx.db, { topicPrefix: prefix, pollIntervalMs: 50 });
    const running = runRelay(source, await broker.producer(), { logger, batchSize: 50 });
    try {
      // then the other product's review is published and the entry is a dead letter saying why
      await inProcess.waitFor(1, 20_000);
      const subjects = (key: string) =>
        inProcess.messages.filter((m) => m.key === key).map((m) => decodeEvent(m.value).subject);
      expect(await eventually(async () => subjects(other).includes(otherReview))).toBe(true);
      expect(await eventually(async () => (await source.deadLetters.count()) === 1)).toBe(true);
      const [letter] = await source.deadLetters.list(10);
      expect(letter).toMatchObject({ id: event._id, key: unreadable, waiting: 1 });
      expect(letter!.reason).toMatch(/cannot read the outbox entry: the envelope is not JSON/);
      await inProcess.settle(500);
      expect(subjects(unreadable)).toEqual([]);

      // when an operator skips it, the review behind it is published
      expect(await source.deadLetters.skip(event._id)).toBe(true);
      expect(await eventually(async () => subjects(unreadable).length === 1)).toBe(true);
      expect(subjects(unreadable)).toEqual([behind]);
      expect(await source.deadLetters.count()).toBe(0);
    } finally {
      await running.stop();
      await source.close();
      await inProcess.stop();
    }
  }, 90_000);
});

function poisonReason(letter: ListedDeadLetter): boolean {
  return /unicode|22P05/i.test(letter.reason);
}
