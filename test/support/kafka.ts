import { allTopicSpecs } from '../../src/contracts/topics.js';
import { kafkaCredentials, type KafkaCredentials } from '../../src/messaging/kafka-credentials.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { setupTopicsForEnv } from '../../src/migrate/kafka.setup.js';
import type { Logger } from '../../src/shared/logger.js';
import { createLogger } from '../../src/shared/logger.js';

/**
 * The login of the tests' own Kafka clients (collectors, topic setup, fault checks): the admin of
 * the env's broker, or none when that broker has no SASL.
 */
export function testKafkaCredentials(): KafkaCredentials | undefined {
  return kafkaCredentials('admin');
}

/** A broker client logged in as the tests' admin, on LOCUS_KAFKA_BROKERS. */
export function adminBroker(clientId: string, logger: Logger = createLogger(clientId, 'warn')): Broker {
  return createBroker({
    brokers: process.env.LOCUS_KAFKA_BROKERS!,
    clientId,
    logger,
    credentials: testKafkaCredentials(),
  });
}

/** What the projector groups of tests start with (they are `uniqueName('projector')`). */
export const TEST_PROJECTOR_GROUPS = 'projector';

/**
 * Prepares a test's topic prefix as `locus migrate` prepares a deployment's (setupTopics): its topics
 * exist and the env's relay and projector users may use them, so a relay or projector under test
 * runs as its own user on them. Without SASL (no admin login) it only creates the topics.
 */
export async function setupTestTopics(prefix: string, projectorGroup = TEST_PROJECTOR_GROUPS): Promise<void> {
  const broker = adminBroker('test-topic-setup');
  try {
    if (!testKafkaCredentials()) return await broker.ensureTopics(allTopicSpecs(prefix));
    await setupTopicsForEnv(broker, prefix, projectorGroup);
  } finally {
    await broker.close();
  }
}
