import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { saslOptions } from '../../src/messaging/kafka-credentials.js';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { createBroker, type Broker, type MessageProducer } from '../../src/messaging/kafka.js';
import { ReviewCreatedV1 } from '../../src/contracts/review.events.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { runRelay, type RunningRelay } from '../../src/relay/relay.js';
import { ReviewOutboxSource } from '../../src/reviews/review-outbox.source.js';
import { applyEvent, confirmEvent, commitEvent } from '../../src/reviews/review.repository.js';
import { buildEvent } from '../../src/reviews/review.write.js';
import { createLogger } from '../../src/shared/logger.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../testkit/isolation.js';
import { collectMessages } from './kafka-collector.js';
import { appendProductEvent, attributesOfSize, productKey } from './outbox-fixture.js';
import { aReview, startReviewsFixture } from '../reviews/support.js';
import { eventually } from './relay-process.js';
import { versionsByKey } from './kafka-collector.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('relay-too-large-test', 'silent');
const TOPIC_LIMIT = 100_000;

async function raiseLimit(admin: kafkajs.Admin, topic: string, bytes: number): Promise<void> {
  await admin.alterConfigs({
    validateOnly: false,
    resources: [
      {
        type: kafkajs.ConfigResourceTypes.TOPIC,
        name: topic,
        configEntries: [{ name: 'max.message.bytes', value: String(bytes) }],
      },
    ],
  });
}

describe('an event too large for its topic even alone', () => {
  let database: TestDatabase;
  let db: Kysely<CatalogDb>;
  let broker: Broker;
  let producer: MessageProducer;
  let source: PostgresOutboxSource;
  let relay: RunningRelay | undefined;
  const prefix = uniqueTopicPrefix();
  const topic = `${prefix}products`;
  const admin = new kafkajs.Kafka({
    brokers: process.env.LOCUS_KAFKA_BROKERS!.split(','),
    sasl: saslOptions(testKafkaCredentials()),
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();

  beforeAll(async () => {
    database = await createTestDatabase('catalog');
    db = createKysely<CatalogDb>(createPool(database.url, { applicationName: 'relay-too-large-test' }));
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'relay-too-large',
      logger,
    });
    await broker.ensureTopics(
      [topic, `${prefix}reviews`].map((name) => ({
        topic: name,
        partitions: 3,
        config: { 'max.message.bytes': String(TOPIC_LIMIT) },
      })),
    );
    producer = await broker.producer();
    source = new PostgresOutboxSource({ url: database.url, pollIntervalMs: 50 });
    await admin.connect();
  });

  afterAll(async () => {
    await relay?.stop();
    await source?.close();
    await producer?.close();
    await broker?.deleteTopics([topic, `${prefix}reviews`]);
    await broker?.close();
    await admin.disconnect();
    await db?.destroy();
    await database?.drop();
  });

  it('is parked; other keys flow; its key waits behind it until retried after the limit is raised', async () => {
    // given key 1 at v1 (small), v2 (150 KB: over the topic's 100 KB even alone), v3 (small), and
    // keys 2 and 3 at v1..v3, interleaved in the outbox
    const [poisoned, other1, other2] = [productKey(1), productKey(2), productKey(3)];
    for (let version = 1; version <= 3; version++) {
      const attributes = version === 2 ? attributesOfSize(150_000) : {};
      await appendProductEvent(db, topic, poisoned, version, attributes);
      await appendProductEvent(db, topic, other1, version);
      await appendProductEvent(db, topic, other2, version);
    }
    const collector = await collectMessages(broker, [topic]);

    // when the relay runs
    relay = runRelay(source, producer, { logger, batchSize: 100 });

    // then the other keys arrive in full, and key 1 only up to the event before the large one
    await collector.waitFor(7, 30_000);
    await collector.settle(1_000);
    const arrived = versionsByKey(collector.messages);
    expect(arrived.get(other1)).toEqual([1, 2, 3]);
    expect(arrived.get(other2)).toEqual([1, 2, 3]);
    expect(arrived.get(poisoned)).toEqual([1]);

    // and the large event is a relay dead letter with its reason, its v3 waiting behind it
    const [letter, ...more] = await source.deadLetters.list(10);
    expect(more).toEqual([]);
    expect(letter).toMatchObject({ source: 'catalog', key: poisoned, aggregateVersion: 2, waiting: 1 });
    expect(letter!.reason).toMatch(/larger than topic .* accepts \(100000 bytes\)/);
    expect(relay.status().consecutiveFailures).toBe(0);

    // and `locus relay dlq list` shows it to an operator
    const listed = await promisify(execFile)(
      process.execPath,
      [path.join(REPO_ROOT, 'bin/locus.js'), 'relay', 'dlq', 'list'],
      { env: { ...process.env, ...database.env, LOCUS_MONGO_URL: uniqueMongoUrl().url } },
    );
    expect(listed.stdout).toContain(`catalog ${letter!.id}  key ${poisoned}  v2  1 waiting`);

    // when an operator raises the topic's limit and retries it
    await raiseLimit(admin, topic, 300_000);
    expect(await source.deadLetters.retry(letter!.id)).toBe(true);

    // then it and the event behind it are published, in order, and nothing is parked any more
    await collector.waitFor(9, 30_000);
    await collector.settle(500);
    await collector.stop();
    expect(versionsByKey(collector.messages).get(poisoned)).toEqual([1, 2, 3]);
    expect(await eventually(async () => (await source.deadLetters.count()) === 0)).toBe(true);
  });

  it('in the reviews outbox: parked, its product waits, the others flow; retry publishes both in order', async () => {
    const fx = await startReviewsFixture();
    const reviews = new ReviewOutboxSource(fx.db, { topicPrefix: prefix, pollIntervalMs: 50 });
    const reviewsTopic = `${prefix}reviews`;
    try {
      const post = async (productId: string) => {
        const response = await fx.app.inject({
          method: 'POST',
          url: `/products/${productId}/reviews`,
          payload: aReview,
        });
        expect(response.statusCode).toBe(201);
        return response.json<{ id: string }>().id;
      };
      // given a product with a small review, then one of 150 KB (recorded as the writer records one;
      // the API refuses bodies this long), then another small one; and other products' reviews
      const [poisoned, other] = [fx.newProduct(), fx.newProduct()];
      const first = await post(poisoned);
      const now = new Date();
      const reviewId = randomUUID();
      const huge = buildEvent({
        definition: ReviewCreatedV1,
        reviewId,
        productId: poisoned,
        version: 1,
        previousSequence: 0,
        data: {
          id: reviewId,
          productId: poisoned,
          ...aReview,
          body: 'b'.repeat(150_000),
          createdAt: now.toISOString(),
          updatedAt: now.toISOString(),
        },
        now,
        id: randomUUID(),
      });
      await commitEvent(fx.db, huge);
      await applyEvent(fx.db, huge);
      await confirmEvent(fx.db, huge);
      const third = await post(poisoned);
      const others = [await post(other), await post(other)];
      const collector = await collectMessages(broker, [reviewsTopic]);

      // when the relay runs
      const running = runRelay(reviews, producer, { logger, batchSize: 100 });
      try {
        // then the other product's reviews and the first of the poisoned product arrive, not the rest
        await collector.waitFor(3, 30_000);
        await collector.settle(1_000);
        const subjects = (key: string) =>
          collector.messages
            .filter((m) => m.key === key)
            .map((m) => (JSON.parse(m.value!.toString()) as { subject: string }).subject);
        expect(subjects(other)).toEqual(others);
        expect(subjects(poisoned)).toEqual([first]);
        const [letter] = await reviews.deadLetters.list(10);
        expect(letter).toMatchObject({ source: 'reviews', id: huge._id, key: poisoned, waiting: 1 });
        expect(letter!.reason).toMatch(/larger than topic/);

        // when the limit is raised and the dead letter retried
        await raiseLimit(admin, reviewsTopic, 400_000);
        expect(await reviews.deadLetters.retry(huge._id)).toBe(true);

        // then it and the review behind it are published, in order
        await collector.waitFor(5, 30_000);
        await collector.settle(500);
        expect(subjects(poisoned)).toEqual([first, reviewId, third]);
        expect(await reviews.deadLetters.count()).toBe(0);
      } finally {
        await collector.stop();
        await running.stop();
      }
    } finally {
      await reviews.close();
      await fx.close();
    }
  });
});
