import { topicAcls, type TopicAclOptions } from '../contracts/topic-acls.js';
import { allTopicSpecs } from '../contracts/topics.js';
import { kafkaCredentials } from '../messaging/kafka-credentials.js';
import { createBroker, type Broker } from '../messaging/kafka.js';
import { loadConfig } from '../shared/config.js';
import { LocusError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';

/**
 * Creates the topics under `options.prefix` that do not exist yet and grants the relay's and the
 * projector's ACLs on them (see topicAcls). Idempotent. `broker` must be logged in as the Kafka admin.
 * `locus migrate` runs it for LOCUS_TOPIC_PREFIX; tests run it for their own prefixes.
 */
async function setupTopics(broker: Broker, options: TopicAclOptions): Promise<void> {
  await broker.ensureTopics(allTopicSpecs(options.prefix));
  await broker.grantAcls(topicAcls(options));
}

/**
 * setupTopics for `prefix`, granting the relay and projector users named in `env`
 * (LOCUS_KAFKA_RELAY_USER, LOCUS_KAFKA_PROJECTOR_USER).
 * @throws LocusError LOCUS_CONFIG_MISSING when either user is not set.
 */
export async function setupTopicsForEnv(
  broker: Broker,
  prefix: string,
  projectorGroup: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  await setupTopics(broker, {
    prefix,
    relayUser: userOf('relay', env),
    projectorUser: userOf('projector', env),
    projectorGroup,
  });
}

/**
 * `locus migrate`'s Kafka step, as the admin of LOCUS_KAFKA_ADMIN_USER. Without an admin login (a broker
 * without SASL) it does nothing: the relay and projector create their topics themselves there.
 * @returns a line saying what it did.
 * @throws LocusError LOCUS_CONFIG_MISSING when the admin login is set but a process's user is not.
 */
export async function migrateKafka(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const admin = kafkaCredentials('admin', env);
  if (!admin) return 'kafka: no LOCUS_KAFKA_ADMIN_USER, no topics or ACLs set up';
  const config = loadConfig(['LOCUS_KAFKA_BROKERS', 'LOCUS_TOPIC_PREFIX', 'LOCUS_PROJECTOR_GROUP'], env);
  const broker = createBroker({
    brokers: config.LOCUS_KAFKA_BROKERS,
    clientId: 'locus-migrate',
    logger: createLogger('migrate', 'warn'),
    credentials: admin,
  });
  try {
    await setupTopicsForEnv(broker, config.LOCUS_TOPIC_PREFIX, config.LOCUS_PROJECTOR_GROUP, env);
  } finally {
    await broker.close();
  }
  return `kafka: topics under "${config.LOCUS_TOPIC_PREFIX}" ready, with the relay's and projector's ACLs`;
}

/** The user name alone: setting up its ACLs needs no password. */
function userOf(role: 'relay' | 'projector', env: NodeJS.ProcessEnv): string {
  const name = `LOCUS_KAFKA_${role.toUpperCase()}_USER`;
  const user = env[name];
  if (user) return user;
  throw new LocusError('LOCUS_CONFIG_MISSING', `missing setting ${name}: the ACLs name the ${role}'s user`, {
    details: [{ field: name, message: 'required' }],
  });
}
