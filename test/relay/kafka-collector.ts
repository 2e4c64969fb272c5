import { setTimeout as sleep } from 'node:timers/promises';
import type { Broker, IncomingMessage } from '../../src/messaging/kafka.js';
import { uniqueName } from '../../testkit/isolation.js';

export interface Collector {
  messages: IncomingMessage[];
  /** Waits until at least `count` messages arrived (or the timeout), then returns them all. */
  waitFor(count: number, timeoutMs?: number): Promise<IncomingMessage[]>;
  /** Waits until no message arrived for `quietMs`, then returns them all. */
  settle(quietMs?: number): Promise<IncomingMessage[]>;
  stop(): Promise<void>;
}

/** Reads `topics` from the beginning with a group of its own, collecting every message. */
export async function collectMessages(broker: Broker, topics: string[]): Promise<Collector> {
  const messages: IncomingMessage[] = [];
  let lastArrival = Date.now();
  const consumer = await broker.startBatchConsumer({
    groupId: uniqueName('collector'),
    topics,
    positions: async (assigned) => assigned.map((a) => ({ ...a, offset: '0' })),
    handleBatches: async (batches) => {
      for (const batch of batches) messages.push(...batch.messages);
      lastArrival = Date.now();
    },
  });
  return {
    messages,
    async waitFor(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count && Date.now() < deadline) await sleep(50);
      return messages;
    },
    async settle(quietMs = 1_500) {
      while (Date.now() - lastArrival < quietMs) await sleep(100);
      return messages;
    },
    stop: () => consumer.stop(),
  };
}

/**
 * Per key, the aggregate versions in the order they arrived. Read from the envelope without checking
 * the event's data against its schema: the relay's tests are about transport, and some send events
 * larger than the write APIs accept.
 */
export function versionsByKey(messages: IncomingMessage[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const message of messages) {
    const list = byKey.get(message.key!) ?? [];
    list.push((JSON.parse(message.value!.toString('utf8')) as { aggregateversion: number }).aggregateversion);
    byKey.set(message.key!, list);
  }
  return byKey;
}

/** What a consumer that ignores versions it has already applied ends up applying. */
export function appliedAfterDedupe(versions: number[]): number[] {
  const applied: number[] = [];
  for (const version of versions) if (version > (applied.at(-1) ?? 0)) applied.push(version);
  return applied;
}
