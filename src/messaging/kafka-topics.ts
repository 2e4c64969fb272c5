import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import { LocusError } from '../shared/errors.js';
import type { TopicSpec } from './kafka.js';

/** Creates the topics that do not exist yet, then waits until every partition of them has a leader. */
export async function ensureTopics(client: Admin, topics: TopicSpec[]): Promise<void> {
  const existing = new Set(await client.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return;
  try {
    await client.createTopics({
      // kafkajs's own wait for leaders fails on a KRaft broker that briefly answers "unknown
      // topic" right after creating one; the wait below retries that instead.
      waitForLeaders: false,
      topics: missing.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions,
        replicationFactor: 1,
        configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
  } catch (error) {
    const types = errorTypes(error);
    // Another process created them first: fine, they exist.
    if (types.length > 0 && types.every((type) => type === 'TOPIC_ALREADY_EXISTS')) {
      return waitForLeaders(client, names(missing));
    }
    if (types.some((type) => AUTHORIZATION_FAILURES.has(type))) {
      throw new LocusError(
        'LOCUS_CONFIG_INVALID',
        `topics ${names(missing).join(', ')} do not exist and this Kafka user may not create them: ` +
          'run `locus migrate` with the Kafka admin login (LOCUS_KAFKA_ADMIN_USER), which creates them',
        { cause: error },
      );
    }
    throw error;
  }
  await waitForLeaders(client, names(missing));
}

const AUTHORIZATION_FAILURES = new Set(['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED']);

function names(topics: TopicSpec[]): string[] {
  return topics.map((t) => t.topic);
}

/** The broker's error codes in a kafkajs error: its own, or each topic's in a KafkaJSAggregateError. */
function errorTypes(error: unknown): string[] {
  const { type, errors } = error as { type?: string; errors?: { type?: string }[] };
  const types = [type, ...(errors ?? []).map((e) => e.type)];
  return types.filter((t): t is string => t !== undefined);
}

/** Deletes those of `topics` that exist. */
export async function deleteTopics(client: Admin, topics: string[]): Promise<void> {
  const existing = new Set(await client.listTopics());
  const present = topics.filter((t) => existing.has(t));
  if (present.length > 0) await client.deleteTopics({ topics: present });
}

/** Polls topic metadata until every partition of `topics` has a leader (at most `timeoutMs`). */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
      const ready = metadata.every(
        (t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0),
      );
      if (ready && metadata.length === topics.length) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms`);
    await sleep(100);
  }
}
