import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
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
    // Another process created them first: fine, they exist.
    if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
  }
  await waitForLeaders(
    client,
    missing.map((t) => t.topic),
  );
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
