import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/contracts/registry.js';
import { topicSpecs } from '../../src/contracts/topics.js';
import { createBroker, type Broker, type MessageProducer } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { runRelay, type RunningRelay } from '../../src/relay/relay.js';
import { uniqueTopicPrefix } from '../../testkit/isolation.js';
import { collectMessages, type Collector } from '../relay/kafka-collector.js';
import { aProduct, outboxRows, startCatalog, type CatalogFixture } from './catalog-fixture.js';
import { testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('catalog-to-kafka-test', 'silent');

describe('catalog writes reach Kafka through the outbox relay', () => {
  let catalog: CatalogFixture;
  let broker: Broker;
  let producer: MessageProducer;
  let source: PostgresOutboxSource;
  let relay: RunningRelay;
  let collector: Collector;

  beforeAll(async () => {
    catalog = await startCatalog(uniqueTopicPrefix());
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'catalog-to-kafka',
      logger,
    });
    await broker.ensureTopics(topicSpecs(catalog.topics));
    producer = await broker.producer();
    source = new PostgresOutboxSource({ url: catalog.database.url });
    relay = runRelay(source, producer, { logger });
    collector = await collectMessages(broker, [catalog.topics.products, catalog.topics.categories]);
  });

  afterAll(async () => {
    await relay?.stop();
    await source?.close();
    await collector?.stop();
    await producer?.close();
    await broker?.deleteTopics([catalog.topics.products, catalog.topics.categories, catalog.topics.reviews]);
    await broker?.close();
    await catalog?.close();
  });

  it('publishes exactly one event per accepted write, keyed by product id, with the full state and version', async () => {
    // given a category and a product in it
    const category = await catalog.app.inject({
      method: 'POST',
      url: '/categories',
      payload: { name: 'Kitchen' },
    });
    expect(category.statusCode).toBe(201);
    const categoryId = category.json<{ id: string }>().id;
    const created = await catalog.app.inject({
      method: 'POST',
      url: '/products',
      payload: aProduct({ sku: 'KETTLE-1', categoryId }),
    });
    expect(created.statusCode).toBe(201);
    const productId = created.json<{ id: string }>().id;

    // when it is changed, a rejected write is attempted (stale version), and it is deleted
    const patched = await catalog.app.inject({
      method: 'PATCH',
      url: `/products/${productId}`,
      headers: { 'if-match': '"1"' },
      payload: { price: { amount: 1999, currency: 'EUR' } },
    });
    expect(patched.statusCode).toBe(200);
    const stale = await catalog.app.inject({
      method: 'PATCH',
      url: `/products/${productId}`,
      headers: { 'if-match': '"1"' },
      payload: { name: 'never' },
    });
    expect(stale.statusCode).toBe(409);
    const duplicate = await catalog.app.inject({
      method: 'POST',
      url: '/products',
      payload: aProduct({ sku: 'KETTLE-1' }),
    });
    expect(duplicate.statusCode).toBe(409);
    const deleted = await catalog.app.inject({
      method: 'DELETE',
      url: `/products/${productId}`,
      headers: { 'if-match': '"2"' },
    });
    expect(deleted.statusCode).toBe(204);

    // then Kafka holds exactly the four accepted changes, in order, and nothing of the rejected ones
    await collector.waitFor(4);
    const messages = await collector.settle();
    expect(messages).toHaveLength(4);
    const productEvents = messages.filter((m) => m.topic === catalog.topics.products);
    expect(productEvents.map((m) => m.key)).toEqual([productId, productId, productId]);
    const decoded = productEvents.map((m) => decodeEvent(m.value));
    expect(decoded.map((e) => [e.type, e.aggregateversion])).toEqual([
      ['locus.catalog.product.created.v1', 1],
      ['locus.catalog.product.updated.v1', 2],
      ['locus.catalog.product.deleted.v1', 3],
    ]);
    expect(decoded[1]!.data).toEqual(
      (({ version: _v, ...state }: Record<string, unknown>) => state)(
        patched.json<Record<string, unknown>>(),
      ),
    );
    expect(decoded[2]!.data).toMatchObject({ id: productId, categoryId });
    expect(productEvents[0]!.headers['content-type']).toBe('application/cloudevents+json');
    const categoryEvent = messages.find((m) => m.topic === catalog.topics.categories)!;
    expect(categoryEvent.key).toBe(categoryId);
    expect(decodeEvent(categoryEvent.value).data).toMatchObject({ id: categoryId, name: 'Kitchen' });

    // and every outbox row is marked published
    const rows = await outboxRows(catalog.db);
    expect(rows).toHaveLength(4);
    expect(rows.every((row) => row.published_at !== null)).toBe(true);
  });
});
