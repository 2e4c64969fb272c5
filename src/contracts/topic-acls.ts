import type { AclGrant } from '../messaging/kafka-acls.js';
import { deadLetterTopic } from './topics.js';

export interface TopicAclOptions {
  /** The deployment's topic prefix (LOCUS_TOPIC_PREFIX): every grant is on the topics under it. */
  prefix: string;
  relayUser: string;
  projectorUser: string;
  /** The projector's consumer group (LOCUS_PROJECTOR_GROUP); its rebuilds use groups named after it. */
  projectorGroup: string;
}

/**
 * What each locus process may do on the broker, and nothing more (a broker that allows nothing
 * without an ACL refuses the rest):
 * - the relay writes the event topics and reads their size limit (describe-configs);
 * - the projector reads the event topics in its own groups and writes its dead-letter topic;
 * - both may open an idempotent producer: kafkajs asks for a producer id with an InitProducerId
 *   version the broker still authorizes by IdempotentWrite on the cluster, not by Write on a topic.
 * Topics are created by the admin (`locus migrate`), never by these two.
 * @example topicAcls({ prefix: 'locus.', relayUser: 'relay', projectorUser: 'projector', projectorGroup: 'locus-projector' })
 */
export function topicAcls(options: TopicAclOptions): AclGrant[] {
  const { prefix, relayUser, projectorUser, projectorGroup } = options;
  const topics = { resource: 'topic', pattern: 'prefixed', name: prefix } as const;
  const cluster = { resource: 'cluster', pattern: 'literal', name: 'kafka-cluster' } as const;
  return [
    { user: relayUser, ...cluster, operation: 'idempotent-write' },
    { user: projectorUser, ...cluster, operation: 'idempotent-write' },
    { user: relayUser, ...topics, operation: 'write' },
    { user: relayUser, ...topics, operation: 'describe' },
    { user: relayUser, ...topics, operation: 'describe-configs' },
    { user: projectorUser, ...topics, operation: 'read' },
    { user: projectorUser, ...topics, operation: 'describe' },
    { user: projectorUser, resource: 'group', pattern: 'prefixed', name: projectorGroup, operation: 'read' },
    {
      user: projectorUser,
      resource: 'topic',
      pattern: 'literal',
      name: deadLetterTopic(prefix),
      operation: 'write',
    },
  ];
}
