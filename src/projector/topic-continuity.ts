import type { PartitionPosition } from '../messaging/kafka.js';
import type { PartitionOffsets } from '../messaging/topic-offsets.js';

/** A stored position the topic can no longer continue from. */
export interface PositionBreak {
  topic: string;
  partition: number;
  /** The stored next offset ('0' when none is stored). */
  stored: string;
  earliest: string;
  end: string;
  /**
   * `beyond-end`: the topic was deleted and recreated (or its partition is gone), so its offsets
   * restarted below the position; `before-earliest`: records the projector never applied are gone.
   */
  kind: 'beyond-end' | 'before-earliest';
}

/**
 * The stored positions that no longer fit the topics' offsets. A partition without a stored position
 * starts at 0, so it breaks once its earliest offset is past 0; a stored position on a partition the
 * topic no longer has is beyond its end (0). Pure.
 */
export function positionBreaks(
  offsets: readonly PartitionOffsets[],
  stored: readonly PartitionPosition[],
): PositionBreak[] {
  const storedBy = new Map(stored.map((p) => [`${p.topic}/${p.partition}`, p.offset]));
  const topics = new Set(offsets.map((o) => o.topic));
  const known = new Set(offsets.map((o) => `${o.topic}/${o.partition}`));
  const breaks: PositionBreak[] = [];
  for (const o of offsets) {
    const position = storedBy.get(`${o.topic}/${o.partition}`) ?? '0';
    const at = BigInt(position);
    if (at > BigInt(o.end)) breaks.push({ ...o, stored: position, kind: 'beyond-end' });
    else if (at < BigInt(o.earliest)) breaks.push({ ...o, stored: position, kind: 'before-earliest' });
  }
  for (const p of stored)
    if (topics.has(p.topic) && !known.has(`${p.topic}/${p.partition}`) && BigInt(p.offset) > 0n)
      breaks.push({ ...p, stored: p.offset, earliest: '0', end: '0', kind: 'beyond-end' });
  return breaks;
}

/** One line an operator can act on: where, both offsets, and what it means. */
export function describeBreak(b: PositionBreak): string {
  const where = `${b.topic}/${b.partition}`;
  return b.kind === 'beyond-end'
    ? `${where}: stored next offset ${b.stored} is beyond the end offset ${b.end} (topic deleted or recreated)`
    : `${where}: stored next offset ${b.stored} is below the earliest offset ${b.earliest} (events were removed before they were applied)`;
}

/** The partitions of a rebuild's topics that no longer start at offset 0: a replay would miss events. */
export function truncatedPartitions(offsets: readonly PartitionOffsets[]): PartitionOffsets[] {
  return offsets.filter((o) => BigInt(o.earliest) > 0n);
}
