import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MongoServerError, type Collection, type Db, type Document } from 'mongodb';
import { decodeEvent } from '../../src/contracts/registry.js';
import { topicNames } from '../../src/contracts/topics.js';
import { createBroker, type Broker, type MessageProducer } from '../../src/messaging/kafka.js';
import type { PendingEvent } from '../../src/relay/outbox-source.js';
import { toMessage } from '../../src/relay/relay.js';
import { createCatalogDirectory } from '../../src/reviews/product-directory.js';
import { ReviewOutboxSource } from '../../src/reviews/review-outbox.source.js';
import { reviewCollections } from '../../src/reviews/review.model.js';
import { decideOutcome } from '../../src/reviews/review.repository.js';
import { createReviewService } from '../../src/reviews/review.service.js';
import { buildReviewsServer } from '../../src/reviews/reviews.server.js';
import { systemClock, uuidGenerator } from '../../src/shared/clock.js';
import type { HttpServer } from '../../src/shared/http-server.js';
import { createLogger } from '../../src/shared/logger.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { sendingDevToken } from '../support/auth.js';
import { uniqueTopicPrefix } from '../../testkit/isolation.js';
import { collectMessages } from '../relay/kafka-collector.js';
import { aReview, startReviewsFixture, type ReviewsFixture } from './support.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('review-write-outcome-test', 'silent');
/** How old an unconfirmed entry must be before the relay resolves it, in these tests. */
const RESOLVE_AFTER_MS = 300;

/**
 * The real store, except that the next `n` calls of `<collection>.<method>` fail as a store error
 * would (armed through `faults`): a writer that fails between two of its steps.
 */
function withFaults(db: Db, faults: Map<string, number>): Db {
  const faulty = (name: string, collection: Collection<Document>) =>
    new Proxy(collection, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        const key = `${name}.${String(property)}`;
        return (...args: unknown[]) => {
          const left = faults.get(key) ?? 0;
          if (left > 0) {
            faults.set(key, left - 1);
            return Promise.reject(new MongoServerError({ message: `injected failure of ${key}`, code: 1 }));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return new Proxy(db, {
    get(target, property) {
      if (property === 'collection') {
        return (name: string) => faulty(name, target.collection(name));
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

describe('a reviews write whose client got a 5xx is never completed later', () => {
  let fx: ReviewsFixture;
  let app: HttpServer;
  let broker: Broker;
  let producer: MessageProducer;
  const faults = new Map<string, number>();
  /** Ids the service takes before falling back to random ones (review id, then event id, for a POST). */
  const plannedIds: string[] = [];
  const prefix = uniqueTopicPrefix();
  const topic = topicNames(prefix).reviews;
  const sources: ReviewOutboxSource[] = [];
  const sendTo = (events: PendingEvent[]) => producer.send(events.map(toMessage));

  /** The relay, once every unconfirmed entry is old enough to be resolved: drains the outbox. */
  const runResolver = async () => {
    await sleep(RESOLVE_AFTER_MS + 200);
    const source = new ReviewOutboxSource(fx.db, {
      topicPrefix: prefix,
      pollIntervalMs: 50,
      resolveAfterMs: RESOLVE_AFTER_MS,
      logger,
    });
    sources.push(source);
    for (let n = 1; n > 0;) n = await source.publishBatch(100, sendTo);
    // Gives its lanes back, so the next run takes them at once.
    await sources.pop()?.close();
  };
  const post = (productId: string, key?: string) =>
    app.inject({
      method: 'POST',
      url: `/products/${productId}/reviews`,
      headers: key === undefined ? {} : { 'idempotency-key': key },
      payload: aReview,
    });
  const createdMessagesOf = async (productId: string) => {
    const collector = await collectMessages(broker, [topic]);
    await collector.settle(1_000);
    await collector.stop();
    return collector.messages
      .filter((m) => m.key === productId)
      .map((m) => decodeEvent(m.value))
      .filter((e) => e.type === 'locus.reviews.review.created.v1');
  };

  beforeAll(async () => {
    fx = await startReviewsFixture();
    const db = withFaults(fx.db, faults);
    const reviews = createReviewService({
      db,
      clock: systemClock,
      newId: () => plannedIds.shift() ?? uuidGenerator(),
      products: createCatalogDirectory({
        baseUrl: fx.catalog.url,
        clock: systemClock,
        cacheTtlMs: 0,
        timeoutMs: 10_000,
        breakerThreshold: 1_000,
      }),
    });
    app = await buildReviewsServer({
      db: fx.db,
      reviews,
      logger: createLogger('reviews-test', 'silent'),
      metrics: createMetricsRegistry('reviews'),
    });
    sendingDevToken(app);
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'write-outcome',
      logger,
    });
    await broker.ensureTopics([{ topic, partitions: 3 }]);
    producer = await broker.producer();
  });

  afterEach(async () => {
    faults.clear();
    await Promise.all(sources.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    await app?.close();
    await producer?.close();
    await broker?.deleteTopics([topic]);
    await broker?.close();
    await fx?.close();
  });

  it('a POST that failed after its outbox entry stays undone: a retry without a key makes the only review', async () => {
    // given a writer whose event insert fails after its outbox entry was written
    const productId = fx.newProduct();
    faults.set('review_events.insertOne', 1);
    const failed = await post(productId);
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);

    // when the relay's resolver has run past its grace period, and the client retries without a key
    await runResolver();
    const retried = await post(productId);
    expect(retried.statusCode).toBe(201);
    await runResolver();

    // then exactly one review exists, in the store and on Kafka
    expect(await reviewCollections(fx.db).reviews.countDocuments({ productId })).toBe(1);
    expect(await reviewCollections(fx.db).events.countDocuments({ productId })).toBe(1);
    const created = await createdMessagesOf(productId);
    expect(created.map((e) => e.subject)).toEqual([retried.json<{ id: string }>().id]);
    expect(await reviewCollections(fx.db).outbox.countDocuments({ productId })).toBe(0);
  });

  it('with an Idempotency-Key, a retry of a cancelled POST creates the review once and replays it after', async () => {
    const productId = fx.newProduct();
    faults.set('review_events.insertOne', 1);
    expect((await post(productId, `k-${productId}`)).statusCode).toBeGreaterThanOrEqual(500);
    await runResolver();

    const retried = await post(productId, `k-${productId}`);
    expect(retried.statusCode).toBe(201);
    const again = await post(productId, `k-${productId}`);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(retried.json());
    await runResolver();
    expect(await reviewCollections(fx.db).reviews.countDocuments({ productId })).toBe(1);
    expect((await createdMessagesOf(productId)).map((e) => e.subject)).toEqual([
      retried.json<{ id: string }>().id,
    ]);
  });

  it('a POST past its commit point answers success, and a retry with its key returns that first result', async () => {
    // given a writer whose review document update fails after the event was committed
    const productId = fx.newProduct();
    faults.set('reviews.replaceOne', 1);
    const first = await post(productId, `k-${productId}`);

    // then the client is told the review exists (the relay completes the rest), as a first result
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retried = await post(productId, `k-${productId}`);
    expect(retried.statusCode).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json()).toEqual(first.json());
    await runResolver();
    expect(await reviewCollections(fx.db).reviews.countDocuments({ productId })).toBe(1);
    expect((await createdMessagesOf(productId)).map((e) => e.subject)).toEqual([
      first.json<{ id: string }>().id,
    ]);
  });

  it('a POST without a key past its commit point answers success: the client has no reason to retry', async () => {
    const productId = fx.newProduct();
    faults.set('reviews.replaceOne', 1);
    const first = await post(productId);
    expect(first.statusCode).toBe(201);
    await runResolver();
    expect(await reviewCollections(fx.db).reviews.findOne({ productId })).toMatchObject({
      _id: first.json<{ id: string }>().id,
      version: 1,
    });
    expect((await createdMessagesOf(productId)).map((e) => e.subject)).toEqual([
      first.json<{ id: string }>().id,
    ]);
  });

  it('a writer cancelling and the relay completing the same entry: one unique insert decides, both see it', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `race-${Date.now()}-${i}`);
    const pairs = await Promise.all(
      ids.map((id) =>
        Promise.all([
          decideOutcome(fx.db, id, 'cancelled', new Date()),
          decideOutcome(fx.db, id, 'completed', new Date()),
        ]),
      ),
    );
    for (const [writer, relay] of pairs) expect(writer).toBe(relay);
    expect(await reviewCollections(fx.db).outcomes.countDocuments({ _id: { $in: ids } })).toBe(ids.length);
  });

  it('a writer whose cancel comes after the relay decided to complete answers success, and one review exists', async () => {
    // given the relay decided to roll this write forward just before its writer's event insert failed
    const productId = fx.newProduct();
    const [reviewId, eventId] = [uuidGenerator(), uuidGenerator()];
    plannedIds.push(reviewId, eventId);
    expect(await decideOutcome(fx.db, eventId, 'completed', new Date())).toBe('completed');
    faults.set('review_events.insertOne', 1);

    // when the writer fails, tries to cancel and loses
    const answer = await post(productId);

    // then it completes the write and says so; the relay publishes it once
    expect(answer.statusCode).toBe(201);
    expect(answer.json()).toMatchObject({ id: reviewId, version: 1 });
    await runResolver();
    expect(await reviewCollections(fx.db).reviews.countDocuments({ productId })).toBe(1);
    expect((await createdMessagesOf(productId)).map((e) => e.subject)).toEqual([reviewId]);
  });
});
