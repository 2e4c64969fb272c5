import { decodeMessage } from '../../src/projector/batch/decode.js';
import type { Change } from '../../src/projector/projection.types.js';
import type { StreamEvent } from '../../testkit/events.js';

/** Events as Kafka would deliver them: key and serialized envelope. */
export function encodeAll(events: StreamEvent[]): { key: string; value: Buffer }[] {
  return events.map((e) => ({ key: e.key, value: Buffer.from(JSON.stringify(e.envelope)) }));
}

/**
 * The changes the projector would apply for `messages`, decoded and validated as it does from Kafka.
 * @throws Error with the reason of the first message the projector would park.
 */
export function decodeAll(messages: { key: string; value: Buffer }[]): Change[] {
  return messages.map((message, i) => {
    const decoded = decodeMessage({
      topic: 't',
      partition: 0,
      offset: String(i),
      key: message.key,
      value: message.value,
      headers: {},
      timestamp: 0,
    });
    if (!('change' in decoded)) throw new Error(decoded.reason);
    return decoded.change;
  });
}
