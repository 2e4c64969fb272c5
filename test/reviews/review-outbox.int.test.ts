import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReviewCreatedV1, type ReviewState } from '../../src/contracts/review.events.js';
import { decodeEvent } from '../../src/contracts/registry.js';
import { topicNames } from '../../src/contracts/topics.js';
import {
  createBroker,
  type Broker,
  type IncomingMessage,
  type MessageProducer,
} from '../../src/messaging/kafka.js';
import type { PendingEvent } from '../../src/relay/outbox-source.js';
import { runRelay, toMessage } from '../../src/relay/relay.js';
import { ReviewOutboxSource } from '../../src/reviews/review-outbox.source.js';
import { confirmationId, reviewCollections } from '../../src/reviews/review.model.js';
import { commitEvent } from '../../src/reviews/review.repository.js';
import { buildEvent } from '../../src/reviews/review.write.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueTopicPrefix } from '../../testkit/isolation.js';
import { collectMessages } from '../relay/kafka-collector.js';
import { aReview, startReviewsFixture, type ReviewsFixture } from './support.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('review-outbox-test', 'silent');

describe('review outbox source (Mongo wire store → Kafka)', () => {
  let fx: ReviewsFixture;
  let broker: Broker;
  let producer: MessageProducer;
  const prefix = uniqueTopicPrefix();
  const topic = topicNames(prefix).reviews;
  const sources: ReviewOutboxSource[] = [];
  const newSource = (options: Partial<ConstructorParameters<typeof ReviewOutboxSource>[1]> = {}) => {
    const source = new ReviewOutboxSource(fx.db, { topicPrefix: prefix, pollIntervalMs: 50, ...options });
    sources.push(source);
    return source;
  };
  const sendTo = (events: PendingEvent[]) => producer.send(events.map(toMessage));
  /** Events still waiting in the outbox (entries are deleted once published). */
  const unpublished = () => reviewCollections(fx.db).outbox.countDocuments({ kind: 'event' });
  /** Drains the outbox with one source, as the relay loop would. */
  const drain = async (source: ReviewOutboxSource) => {
    let total = 0;
    for (let n = 1; n > 0; total += n) n = await source.publishBatch(100, sendTo);
    return total;
  };
  const post = async (productId: string, rating = 4) =>
    (
      await fx.app.inject({
        method: 'POST',
        url: `/products/${productId}/reviews`,
        payload: { ...aReview, rating },
      })
    ).json<ReviewState & { version: number }>();
  const patch = (id: string, payload: object) =>
    fx.app.inject({ method: 'PATCH', url: `/reviews/${id}`, payload });

  beforeAll(async () => {
    fx = await startReviewsFixture();
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'review-outbox-test',
      logger,
    });
    await broker.ensureTopics([{ topic, partitions: 6 }]);
    producer = await broker.producer();
  });

  // A relay still holding lanes would starve the next test's relays until its leases expire.
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    await producer?.close();
    await broker?.deleteTopics([topic]);
    await broker?.close();
    await fx?.close();
  });

  /** Each test publishes only its own reviews: drain everything left by earlier tests first. */
  const fromHere = async () => {
    const offsets = await broker.endOffsets(topic);
    return (messages: IncomingMessage[]) =>
      messages.filter((m) => {
        const start = offsets.find((o) => o.partition === m.partition)?.offset ?? '0';
        return BigInt(m.offset) >= BigInt(start);
      });
  };

  it('publishes each write once to <prefix>reviews keyed by product id, in version order, and marks it published', async () => {
    const source = newSource();
    const productId = fx.newProduct();
    const review = await post(productId);
    await patch(review.id, { rating: 2 });
    await fx.app.inject({ method: 'DELETE', url: `/reviews/${review.id}` });
    const mine = await fromHere();
    const collector = await collectMessages(broker, [topic]);

    expect(await drain(source)).toBe(3);

    const messages = mine(await collector.waitFor(3));
    await collector.stop();
    const ofReview = messages.filter((m) => decodeEvent(m.value).subject === review.id);
    expect(ofReview.map((m) => m.key)).toEqual([productId, productId, productId]);
    expect(ofReview.map((m) => decodeEvent(m.value).type)).toEqual([
      'locus.reviews.review.created.v1',
      'locus.reviews.review.updated.v1',
      'locus.reviews.review.deleted.v1',
    ]);
    expect(ofReview.map((m) => decodeEvent(m.value).aggregateversion)).toEqual([1, 2, 3]);
    const events = await reviewCollections(fx.db).events.find({ reviewId: review.id }).toArray();
    expect(events).toHaveLength(3);
    const left = await reviewCollections(fx.db)
      .outbox.find({ $or: events.flatMap((e) => [{ _id: e._id }, { _id: confirmationId(e._id) }]) })
      .toArray();
    expect(left).toEqual([]);
    expect(await source.pendingCount()).toBe(0);
  });

  it('marks nothing when publishing fails, and re-sends after a crash between the Kafka ack and the mark', async () => {
    // given a relay whose lease is short, and two new events
    const crashed = newSource({ leaseMs: 600 });
    const review = await post(fx.newProduct());
    await patch(review.id, { title: 'second' });
    const mine = await fromHere();
    const collector = await collectMessages(broker, [topic]);

    // when the relay gets the Kafka ack and dies before marking (publish resolves in Kafka, then throws)
    const died = await crashed
      .publishBatch(100, async (events) => {
        await sendTo(events);
        throw new Error('killed after the ack');
      })
      .catch((error: unknown) => error);
    expect(died).toBeInstanceOf(Error);
    expect(await unpublished()).toBe(2);

    // then another relay, once the dead one's lease has expired, sends the same events again
    const survivor = newSource({ leaseMs: 600 });
    expect(await survivor.publishBatch(100, sendTo)).toBe(0); // the dead relay's lanes are still leased
    await sleep(700);
    expect(await drain(survivor)).toBe(2);
    expect(await unpublished()).toBe(0);

    // and the duplicates are recognisable by CloudEvents id and aggregate version
    const messages = mine(await collector.waitFor(4)).filter(
      (m) => decodeEvent(m.value).subject === review.id,
    );
    await collector.stop();
    const seen = messages.map((m) => `${decodeEvent(m.value).id}@${decodeEvent(m.value).aggregateversion}`);
    expect(seen).toHaveLength(4);
    expect(seen.slice(2)).toEqual(seen.slice(0, 2));
    expect(messages.map((m) => decodeEvent(m.value).aggregateversion)).toEqual([1, 2, 1, 2]);
  });

  it('never gives one lane to two relays at once, and hands lanes over on close or lease expiry', async () => {
    const a = newSource({ leaseMs: 800 });
    const b = newSource({ leaseMs: 800, maxLanes: 3 });
    // both try to take lanes at the same moment, several times
    await Promise.all([a.publishBatch(1, sendTo), b.publishBatch(1, sendTo), a.publishBatch(1, sendTo)]);
    const heldByA = a.heldLanes();
    const heldByB = b.heldLanes();
    expect(heldByA.filter((lane) => heldByB.includes(lane))).toEqual([]);
    expect(heldByA.length + heldByB.length).toBeLessThanOrEqual(8);

    // a closes: b takes a's lanes (up to its cap) at its next check
    await a.close();
    const c = newSource({ leaseMs: 800 });
    await sleep(200);
    await Promise.all([b.publishBatch(1, sendTo), c.publishBatch(1, sendTo)]);
    expect(b.heldLanes().filter((lane) => c.heldLanes().includes(lane))).toEqual([]);
    expect(new Set([...b.heldLanes(), ...c.heldLanes()]).size).toBe(8);
    await b.close();
    await c.close();
  });

  it('keeps per-key order with two relays publishing concurrently while reviews are written', async () => {
    // given an empty outbox and two relays sharing the lanes, running the relay loop
    expect(await unpublished()).toBe(0);
    const mine = await fromHere();
    const collector = await collectMessages(broker, [topic]);
    const published = [0, 0];
    const relays = [0, 1].map((i) => {
      const source = newSource({ maxLanes: 4, name: `reviews-${i}` });
      return {
        source,
        relay: runRelay(source, producer, {
          logger,
          batchSize: 15,
          onPublished: (events) => (published[i]! += events.length),
        }),
      };
    });

    // when 12 products get 3 reviews each, each review edited 4 times, all in parallel
    const products = Array.from({ length: 12 }, () => fx.newProduct());
    const reviews = await Promise.all(products.flatMap((p) => [1, 2, 3].map((r) => post(p, r))));
    for (let round = 0; round < 4; round++) {
      await Promise.all(reviews.map((r) => patch(r.id, { title: `round ${round}` })));
    }
    expect(reviews.filter((r) => !r.id)).toEqual([]); // every create succeeded (else: its error body)
    const expected = reviews.length * 5;
    const deadline = Date.now() + 30_000;
    while ((await unpublished()) > 0 && Date.now() < deadline) await sleep(50);
    for (const { relay } of relays) await relay.stop();

    // then every event reached Kafka once, each product's events in one partition, each review in order
    const messages = mine(await collector.waitFor(expected)).filter((m) =>
      reviews.some((r) => r.id === decodeEvent(m.value).subject),
    );
    await collector.settle(500);
    await collector.stop();
    expect(messages).toHaveLength(expected);
    for (const productId of products) {
      const ofProduct = messages.filter((m) => m.key === productId);
      expect(ofProduct).toHaveLength(15);
      expect(new Set(ofProduct.map((m) => m.partition)).size).toBe(1);
    }
    for (const review of reviews) {
      const versions = messages
        .map((m) => decodeEvent(m.value))
        .filter((e) => e.subject === review.id)
        .map((e) => e.aggregateversion);
      expect(versions).toEqual([1, 2, 3, 4, 5]);
    }
    expect(published[0]! + published[1]!).toBe(expected);
    expect(Math.min(...published)).toBeGreaterThan(0);
  });

  it('repairs a document left behind by a crashed write before publishing its event, so purging loses nothing', async () => {
    // given a review created by a writer that died after committing the event
    const productId = fx.newProduct();
    const id = randomUUID();
    const now = new Date();
    const state: ReviewState = {
      id,
      productId,
      ...aReview,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    await commitEvent(
      fx.db,
      buildEvent({
        definition: ReviewCreatedV1,
        reviewId: id,
        productId,
        version: 1,
        previousSequence: 0,
        data: state,
        now,
        id: randomUUID(),
      }),
    );
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: id })).toBeNull();

    // when the relay (treating unconfirmed entries as dead writers' at once) publishes it and, later,
    // the retention purge removes published events
    const source = newSource({ resolveAfterMs: 0 });
    expect(await drain(source)).toBeGreaterThanOrEqual(1);
    const olderThan = new Date(Date.now() + 1_000);
    const before = await reviewCollections(fx.db).events.countDocuments({ reviewId: id });
    expect(await source.purgePublished(olderThan)).toBeGreaterThanOrEqual(before);

    // then the review is in the document store, readable, exported and still writable at version 2
    expect(await reviewCollections(fx.db).events.countDocuments({ reviewId: id })).toBe(0);
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: id })).toMatchObject({ version: 1 });
    const read = await fx.app.inject({ method: 'GET', url: `/reviews/${id}` });
    expect(read.json()).toMatchObject({ id, version: 1 });
    const edit = await fx.app.inject({
      method: 'PATCH',
      url: `/reviews/${id}`,
      headers: { 'if-match': '"1"' },
      payload: { rating: 2 },
    });
    expect(edit.json()).toMatchObject({ version: 2, rating: 2 });
  });

  it('purges only published events older than the cutoff', async () => {
    const source = newSource();
    await drain(source);
    const review = await post(fx.newProduct());
    expect(await source.purgePublished(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(0);
    // the new event is unpublished: it survives any cutoff
    expect(await reviewCollections(fx.db).events.countDocuments({ reviewId: review.id })).toBe(1);
    await drain(source);
    expect(await source.purgePublished(new Date(Date.now() - 60_000))).toBe(0);
    expect(await reviewCollections(fx.db).events.countDocuments({ reviewId: review.id })).toBe(1);
    expect(await source.purgePublished(new Date(Date.now() + 60_000))).toBe(1);
  });
});
