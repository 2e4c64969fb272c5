import type { OutboxEntryDocument } from './review.model.js';

/** A held lane's share of the outbox as this relay last read it. */
export interface LaneQueue {
  /** Publishable entries in sequence order, not yet handed to `publish`. */
  ready: OutboxEntryDocument[];
  /** Published (or dropped) entries and their confirmations still to delete, by slot. */
  done: Map<number, string[]>;
}

/** Queues outbox documents of one slot for deletion. */
export function markDone(queue: LaneQueue, slot: number, ...ids: string[]): void {
  const group = queue.done.get(slot) ?? [];
  group.push(...ids);
  queue.done.set(slot, group);
}

/**
 * Up to `limit` entries from the heads of the lanes' queues, lowest sequence first (each lane's
 * queue is in sequence order, so each lane contributes a prefix of its queue).
 */
export function takeBatch(
  queues: ReadonlyMap<number, LaneQueue>,
  lanes: number[],
  limit: number,
): OutboxEntryDocument[] {
  const heads = new Map(lanes.map((lane) => [lane, 0]));
  const batch: OutboxEntryDocument[] = [];
  while (batch.length < limit) {
    let best: { lane: number; entry: OutboxEntryDocument } | undefined;
    for (const [lane, index] of heads) {
      const entry = queues.get(lane)?.ready[index];
      if (entry && (!best || entry.sequence < best.entry.sequence)) best = { lane, entry };
    }
    if (!best) break;
    batch.push(best.entry);
    heads.set(best.lane, heads.get(best.lane)! + 1);
  }
  return batch;
}

/** Why an outbox entry cannot be published as it is, or undefined when it can. */
export function unreadable(entry: OutboxEntryDocument): string | undefined {
  const fields = entry as Partial<Record<keyof OutboxEntryDocument, unknown>>;
  for (const name of ['_id', 'productId', 'reviewId', 'envelope'] as const) {
    if (typeof fields[name] !== 'string') return `${name} is not a string`;
  }
  for (const name of ['lane', 'slot', 'sequence', 'version'] as const) {
    if (typeof fields[name] !== 'number' || !Number.isFinite(fields[name])) return `${name} is not a number`;
  }
  if (!(fields.recordedAt instanceof Date)) return 'recordedAt is not a date';
  try {
    const envelope = JSON.parse(entry.envelope) as unknown;
    if (typeof envelope !== 'object' || envelope === null) return 'the envelope is not a JSON object';
  } catch (error) {
    return `the envelope is not JSON: ${(error as Error).message}`;
  }
  return undefined;
}
