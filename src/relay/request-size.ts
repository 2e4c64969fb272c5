import type { OutgoingMessage } from '../messaging/kafka.js';

/**
 * Bytes a record adds to a Kafka record batch beyond its key, value and header strings: attributes,
 * timestamp and offset deltas and the length varints (at most 5 bytes each), rounded up.
 */
const RECORD_OVERHEAD = 40;
const HEADER_OVERHEAD = 10;
/**
 * Room kept below the limit for what a produce request adds around the records: each partition's
 * record batch header (61 bytes) and the topic and partition framing.
 */
export const REQUEST_MARGIN = 2_048;

/** An upper estimate of the bytes `message` takes in a record batch (uncompressed). */
export function recordBytes(message: OutgoingMessage): number {
  let bytes = RECORD_OVERHEAD + Buffer.byteLength(message.key) + Buffer.byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    bytes += HEADER_OVERHEAD + Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  return bytes;
}

/**
 * How many messages from the head of `sizes` one produce request takes: as many as fit in
 * `limitBytes` less the margin, at most `maxCount`, and at least one (a message too large alone is
 * the caller's to set aside before asking).
 * @example requestLength([400, 400, 400], 1_000 + REQUEST_MARGIN) === 2
 */
export function requestLength(sizes: readonly number[], limitBytes: number, maxCount = Infinity): number {
  let total = 0;
  let count = 0;
  for (const size of sizes) {
    if (count >= maxCount || (count > 0 && total + size > limitBytes - REQUEST_MARGIN)) break;
    total += size;
    count += 1;
  }
  return count;
}

/** True when `size` cannot be sent even alone under `limitBytes`. */
export function tooLargeAlone(size: number, limitBytes: number): boolean {
  return size > limitBytes - REQUEST_MARGIN;
}
