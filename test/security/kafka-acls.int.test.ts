import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterTopic, topicNames, topicSpecs } from '../../src/contracts/topics.js';
import { kafkaCredentials, saslOptions, type KafkaRole } from '../../src/messaging/kafka-credentials.js';
import { createBroker, parseBrokers, type Broker } from '../../src/messaging/kafka.js';
import { LocusError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { setupTestTopics } from '../support/kafka.js';

const logger = createLogger('kafka-acls-test', 'silent');
const sasl = kafkaCredentials('admin') !== undefined;

/** A raw client that tries once: a refusal shows at once instead of after the retries. */
function rawClient(credentials: SASLOptions | undefined): Kafka {
  return new Kafka({
    clientId: 'kafka-acls-test',
    brokers: parseBrokers(process.env.LOCUS_KAFKA_BROKERS!),
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    sasl: credentials,
  });
}

function brokerAs(role: KafkaRole): Broker {
  return createBroker({
    brokers: process.env.LOCUS_KAFKA_BROKERS!,
    clientId: `kafka-acls-${role}`,
    logger,
    credentials: kafkaCredentials(role),
  });
}

/** Joins `groupId` on `topic` as `role`; resolves with the error that stopped the consumer. */
async function consumeAs(role: KafkaRole, topic: string, groupId: string): Promise<unknown> {
  const consumer = rawClient(saslOptions(kafkaCredentials(role))).consumer({
    groupId,
    retry: { retries: 0, restartOnFailure: async () => false },
  });
  try {
    const crashed = new Promise<unknown>((resolve) =>
      consumer.on(consumer.events.CRASH, ({ payload }) => resolve(payload.error)),
    );
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    return await crashed;
  } catch (error) {
    return error;
  } finally {
    await consumer.disconnect();
  }
}

/** The broker's error code behind `error` (kafkajs wraps it in a non-retriable error). */
function brokerRefusal(error: unknown): string | undefined {
  for (let e = error as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.type) return e.type;
  }
  return undefined;
}

describe.skipIf(!sasl)('Kafka ACLs on the real broker', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const brokers: Broker[] = [];

  beforeAll(async () => {
    await setupTestTopics(prefix);
  });

  afterAll(async () => {
    await Promise.allSettled(brokers.map((b) => b.close()));
    const admin = brokerAs('admin');
    await admin.deleteTopics([topics.products, topics.categories, topics.reviews, deadLetterTopic(prefix)]);
    await admin.close();
  });

  it('lets the relay write an event topic, and not consume it', async () => {
    const relay = brokerAs('relay');
    brokers.push(relay);
    const producer = await relay.producer();
    await producer.send([{ topic: topics.products, key: 'p-1', value: '{}' }]);
    await producer.close();

    // Even in a group the relay may join (granted here), reading the topic is refused. (Without a
    // group of its own kafkajs reports the refused group as "coordinator not found", which proves less.)
    const groupId = uniqueName('relay_group');
    const admin = brokerAs('admin');
    brokers.push(admin);
    await admin.grantAcls([
      {
        user: kafkaCredentials('relay')!.username,
        resource: 'group',
        pattern: 'literal',
        name: groupId,
        operation: 'read',
      },
    ]);
    const error = await consumeAs('relay', topics.products, groupId);
    expect(brokerRefusal(error)).toBe('TOPIC_AUTHORIZATION_FAILED');
  });

  it('refuses the projector a write to an event topic, and lets it write its dead-letter topic', async () => {
    const projector = brokerAs('projector');
    brokers.push(projector);
    const producer = await projector.producer();
    try {
      const refused = await producer
        .send([{ topic: topics.products, key: 'p-1', value: '{}' }])
        .catch((e: unknown) => e);
      expect(brokerRefusal(refused)).toBe('TOPIC_AUTHORIZATION_FAILED');
      await producer.send([{ topic: deadLetterTopic(prefix), key: 'p-1', value: '{}' }]);
    } finally {
      await producer.close();
    }
  });

  it('tells a relay whose topics nobody set up to run locus migrate, and creates nothing', async () => {
    const relay = brokerAs('relay');
    brokers.push(relay);
    const unprepared = uniqueTopicPrefix();
    const refused = await relay.ensureTopics(topicSpecs(topicNames(unprepared))).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LocusError);
    expect((refused as LocusError).code).toBe('LOCUS_CONFIG_INVALID');
    expect((refused as LocusError).message).toMatch(/run `locus migrate`/);
    const admin = rawClient(saslOptions(kafkaCredentials('admin'))).admin();
    await admin.connect();
    expect(await admin.listTopics()).not.toContain(topicNames(unprepared).products);
    await admin.disconnect();
  });

  it('refuses a client without credentials', async () => {
    const admin = rawClient(undefined).admin();
    await expect(admin.connect().then(() => admin.listTopics())).rejects.toThrow(
      /closed connection|connection error/i,
    );
    await admin.disconnect();
  });

  it('refuses a wrong password', async () => {
    const relay = kafkaCredentials('relay')!;
    const admin = rawClient(
      saslOptions({ username: relay.username, password: `${relay.password}x` }),
    ).admin();
    await expect(admin.connect()).rejects.toMatchObject({ name: 'KafkaJSSASLAuthenticationError' });
    await admin.disconnect();
  });
});
