import type { SASLOptions } from 'kafkajs';
import { LocusError } from '../shared/errors.js';

/** The Kafka users of locus: each process logs in as its own, with only the ACLs its job needs. */
export type KafkaRole = 'admin' | 'relay' | 'projector';

export interface KafkaCredentials {
  username: string;
  password: string;
}

/** The SCRAM mechanism the native and compose brokers enable on their client listeners. */
const MECHANISM = 'scram-sha-512';

/**
 * The login of `role` from `LOCUS_KAFKA_<ROLE>_USER` and `LOCUS_KAFKA_<ROLE>_PASSWORD` (`services up`
 * writes them to ~/.locus/env). Neither set means no SASL: a broker without authentication, as an env
 * file written before the broker required it describes.
 * @throws LocusError LOCUS_CONFIG_MISSING when only one of the two is set.
 * @example createBroker({ brokers, clientId: 'locus-relay', logger, credentials: kafkaCredentials('relay') })
 */
export function kafkaCredentials(
  role: KafkaRole,
  env: NodeJS.ProcessEnv = process.env,
): KafkaCredentials | undefined {
  const userName = `LOCUS_KAFKA_${role.toUpperCase()}_USER`;
  const passwordName = `LOCUS_KAFKA_${role.toUpperCase()}_PASSWORD`;
  const username = env[userName] || undefined;
  const password = env[passwordName] || undefined;
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined || password === undefined) {
    const missing = username === undefined ? userName : passwordName;
    throw new LocusError('LOCUS_CONFIG_MISSING', `missing setting ${missing}: set both or neither`, {
      details: [{ field: missing, message: 'required' }],
    });
  }
  return { username, password };
}

/** The kafkajs `sasl` option for `credentials`; undefined (plain connections) without them. */
export function saslOptions(credentials: KafkaCredentials | undefined): SASLOptions | undefined {
  return credentials && { mechanism: MECHANISM, ...credentials };
}
