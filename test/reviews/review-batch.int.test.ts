import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/contracts/registry.js';
import { topicNames } from '../../src/contracts/topics.js';
import type { PendingEvent } from '../../src/relay/outbox-source.js';
import { toMessage } from '../../src/relay/relay.js';
import { ReviewOutboxSource } from '../../src/reviews/review-outbox.source.js';
import { confirmationId, reviewCollections } from '../../src/reviews/review.model.js';
import { uniqueTopicPrefix } from '../../testkit/isolation.js';
import { adminBroker } from '../support/kafka.js';
import { collectMessages } from '../relay/kafka-collector.js';
import { aReview, startReviewsFixture, type ReviewsFixture } from './support.js';

interface Created {
  id: string;
  productId: string;
  rating: number;
  createdAt: string;
  version: number;
}

describe('POST /reviews:batch: many reviews through the reviews write path', () => {
  let fx: ReviewsFixture;

  beforeAll(async () => {
    fx = await startReviewsFixture();
  });
  afterAll(async () => {
    await fx?.close();
  });

  const postBatch = (items: unknown[]) =>
    fx.app.inject({ method: 'POST', url: '/reviews:batch', payload: { items } });
  const storeCounts = async () => {
    const { events, outbox, reviews } = reviewCollections(fx.db);
    return {
      events: await events.countDocuments(),
      outbox: await outbox.countDocuments(),
      reviews: await reviews.countDocuments(),
    };
  };

  it('given 60 reviews of 3 products, when posted as one batch, then each has its document, its created event (version 1) and its confirmed outbox entry', async () => {
    const products = [fx.newProduct(), fx.newProduct(), fx.newProduct()];
    const items = Array.from({ length: 60 }, (_, i) => ({
      productId: products[i % 3]!,
      ...aReview,
      rating: 1 + (i % 5),
      title: `batch ${i}`,
    }));
    const before = await storeCounts();

    const response = await postBatch(items);

    expect(response.statusCode, response.body).toBe(201);
    const created = response.json<{ items: Created[] }>().items;
    expect(created).toHaveLength(60);
    expect(new Set(created.map((review) => review.id)).size).toBe(60);
    const { events, outbox } = reviewCollections(fx.db);
    for (const [i, review] of created.entries()) {
      expect(review).toMatchObject({ productId: items[i]!.productId, rating: items[i]!.rating, version: 1 });
      const read = await fx.app.inject({ method: 'GET', url: `/reviews/${review.id}` });
      expect(read.statusCode).toBe(200);
      expect(read.json()).toEqual(review);
      const logged = await events.find({ reviewId: review.id }).toArray();
      expect(logged).toHaveLength(1);
      // The same envelope a single create records: it passes the contract's validation.
      const event = decodeEvent(JSON.stringify(logged[0]!.envelope));
      expect(event.type).toBe('locus.reviews.review.created.v1');
      expect(event.aggregateversion).toBe(1);
      const { version: _version, ...state } = review;
      expect(event.data).toEqual(state);
      expect(await outbox.countDocuments({ _id: logged[0]!._id, kind: 'event' })).toBe(1);
      expect(await outbox.countDocuments({ _id: confirmationId(logged[0]!._id) })).toBe(1);
    }
    const after = await storeCounts();
    expect(after).toEqual({
      events: before.events + 60,
      outbox: before.outbox + 120,
      reviews: before.reviews + 60,
    });
  });

  it('given an item with a bad rating, when the batch is posted, then 400 names the item and field and nothing is written', async () => {
    const productId = fx.newProduct();
    const before = await storeCounts();
    const items = [0, 1, 2, 3].map(() => ({ productId, ...aReview }));
    items[3] = { ...items[3]!, rating: 9 };

    const response = await postBatch(items);

    expect(response.statusCode, response.body).toBe(400);
    const body = response.json<{ code: string; details: { field: string }[] }>();
    expect(body.code).toBe('LOCUS_VALIDATION');
    expect(body.details.map((detail) => detail.field)).toContain('body/items/3/rating');
    expect(await storeCounts()).toEqual(before);
  });

  it('given an item naming an unknown product, when posted, then 404 names that item and nothing is written', async () => {
    const known = fx.newProduct();
    const before = await storeCounts();

    const response = await postBatch([
      { productId: known, ...aReview },
      { productId: known, ...aReview },
      { productId: randomUUID(), ...aReview },
    ]);

    expect(response.statusCode, response.body).toBe(404);
    const body = response.json<{ code: string; details: { field: string }[] }>();
    expect(body.code).toBe('LOCUS_PRODUCT_NOT_FOUND');
    expect(body.details[0]?.field).toBe('body/items/2/productId');
    expect(await storeCounts()).toEqual(before);
  });

  it('given an unknown field or an empty batch, when posted, then 400 and nothing is written', async () => {
    const productId = fx.newProduct();
    const before = await storeCounts();
    const unknown = await postBatch([{ productId, ...aReview, createdAt: '2020-01-01T00:00:00.000Z' }]);
    expect(unknown.statusCode, unknown.body).toBe(400);
    expect(unknown.json<{ details: { field: string }[] }>().details[0]?.field).toBe('body/items/0/createdAt');
    expect((await postBatch([])).statusCode).toBe(400);
    expect(await storeCounts()).toEqual(before);
  });

  it('given a batch, when the relay drains the outbox, then each review reaches Kafka once as its created event, keyed by its product', async () => {
    const prefix = uniqueTopicPrefix();
    const topic = topicNames(prefix).reviews;
    const broker = adminBroker('review-batch-test');
    const source = new ReviewOutboxSource(fx.db, { topicPrefix: prefix, pollIntervalMs: 50 });
    try {
      await broker.ensureTopics([{ topic, partitions: 3 }]);
      const producer = await broker.producer();
      const products = [fx.newProduct(), fx.newProduct()];
      const response = await postBatch(
        Array.from({ length: 40 }, (_, i) => ({ productId: products[i % 2]!, ...aReview })),
      );
      expect(response.statusCode, response.body).toBe(201);
      const created = response.json<{ items: Created[] }>().items;

      const sendTo = (events: PendingEvent[]) => producer.send(events.map(toMessage));
      for (let n = 1; n > 0;) n = await source.publishBatch(100, sendTo);
      await producer.close();

      const collector = await collectMessages(broker, [topic]);
      const ids = new Set(created.map((review) => review.id));
      const mine = (await collector.settle(1_000)).filter((m) => ids.has(decodeEvent(m.value).subject));
      await collector.stop();
      expect(mine).toHaveLength(40);
      expect(new Set(mine.map((m) => decodeEvent(m.value).subject)).size).toBe(40);
      for (const message of mine) {
        const event = decodeEvent(message.value);
        expect(event.type).toBe('locus.reviews.review.created.v1');
        expect(message.key).toBe(created.find((review) => review.id === event.subject)!.productId);
      }
      expect(await reviewCollections(fx.db).outbox.countDocuments({ kind: 'event' })).toBe(0);
    } finally {
      await source.close();
      await broker.deleteTopics([topic]).catch(() => undefined);
      await broker.close();
    }
  });

  it('given an import with creation times, when created in process, then each review keeps its time and its event is recorded now', async () => {
    const productId = fx.newProduct();
    const createdAt = '2025-03-01T10:00:00.000Z';
    const started = Date.now();

    const [imported] = await fx.reviews.createBatch([{ productId, review: aReview, createdAt }]);

    expect(imported!.review).toMatchObject({ productId, createdAt, updatedAt: createdAt });
    const [event] = await reviewCollections(fx.db).events.find({ reviewId: imported!.review.id }).toArray();
    expect(event!.recordedAt.getTime()).toBeGreaterThanOrEqual(started - 1_000);
  });
});
