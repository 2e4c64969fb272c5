import { CLOUDEVENTS_CONTENT_TYPE } from '../contracts/envelope.js';
import type { MessageProducer, OutgoingMessage } from '../messaging/kafka.js';
import { isRejectedForContent } from '../messaging/kafka-producer.js';
import type { PendingEvent, PublishOutcome } from './outbox-source.js';
import { recordBytes, requestLength, tooLargeAlone } from './request-size.js';

export function toMessage(event: PendingEvent): OutgoingMessage {
  return {
    topic: event.topic,
    key: event.key,
    value: JSON.stringify(event.envelope),
    headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE },
  };
}

interface Sized {
  event: PendingEvent;
  message: OutgoingMessage;
  bytes: number;
}

/**
 * Sends `events` in order as produce requests each below the size limit of its topics (read from
 * the broker, see `MessageProducer.maxBatchBytes`), one request at a time, so per-key order holds.
 *
 * An event too large even alone, or one the broker refuses for its content when sent alone (size,
 * invalid record), is reported parked with the reason, and the later events of its key in this batch
 * are left out (neither published nor parked: they stay pending behind it). A request the broker
 * refuses for its content is split in halves and sent again, down to the event at fault. Any other failure throws (an outage: the whole batch is retried).
 */
export async function publishBounded(
  producer: MessageProducer,
  events: PendingEvent[],
): Promise<PublishOutcome> {
  const outcome: PublishOutcome = { published: [], parked: [] };
  const blocked = new Set<string>();
  const keyOf = (item: Sized) => `${item.event.topic}\u0000${item.event.key}`;
  const park = (item: Sized, reason: string) => {
    outcome.parked.push({ event: item.event, reason });
    blocked.add(keyOf(item));
  };
  let rest: Sized[] = events.map((event) => {
    const message = toMessage(event);
    return { event, message, bytes: recordBytes(message) };
  });
  let maxCount = Infinity;
  while ((rest = rest.filter((item) => !blocked.has(keyOf(item)))).length > 0) {
    const head = rest[0]!;
    const headLimit = await producer.maxBatchBytes(head.event.topic);
    if (tooLargeAlone(head.bytes, headLimit)) {
      const fresh = await producer.maxBatchBytes(head.event.topic, { fresh: true });
      if (tooLargeAlone(head.bytes, fresh)) {
        park(
          head,
          `event of about ${head.bytes} bytes is larger than topic ${head.event.topic} accepts (${fresh} bytes)`,
        );
        continue;
      }
    }
    let limit = Infinity;
    for (const topic of new Set(rest.map((item) => item.event.topic))) {
      limit = Math.min(limit, await producer.maxBatchBytes(topic));
    }
    const count = requestLength(
      rest.map((item) => item.bytes),
      limit,
      maxCount,
    );
    const request = rest.slice(0, count);
    try {
      await producer.send(request.map((item) => item.message));
    } catch (error) {
      if (!isRejectedForContent(error)) throw error;
      if (request.length > 1) maxCount = Math.ceil(request.length / 2);
      else park(head, `refused by the broker: ${(error as Error).message}`);
      continue;
    }
    outcome.published.push(...request.map((item) => item.event));
    rest = rest.slice(count);
  }
  return outcome;
}
