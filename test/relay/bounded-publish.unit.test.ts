import { describe, expect, it } from 'vitest';
import type { MessageProducer, OutgoingMessage } from '../../src/messaging/kafka.js';
import { publishBounded } from '../../src/relay/bounded-publish.js';
import type { PendingEvent } from '../../src/relay/outbox-source.js';
import { recordBytes, REQUEST_MARGIN, requestLength, tooLargeAlone } from '../../src/relay/request-size.js';

describe('requestLength', () => {
  it('takes as many messages as fit below the limit less the margin, at least one', () => {
    expect(requestLength([400, 400, 400], 1_000 + REQUEST_MARGIN)).toBe(2);
    expect(requestLength([400, 400, 400], 1_200 + REQUEST_MARGIN)).toBe(3);
    expect(requestLength([5_000, 10], 1_000 + REQUEST_MARGIN)).toBe(1);
    expect(requestLength([10, 10, 10], 1_000_000, 2)).toBe(2);
    expect(requestLength([], 1_000)).toBe(0);
  });

  it('calls a message too large alone when it does not fit below the margin', () => {
    expect(tooLargeAlone(1_000, 1_000 + REQUEST_MARGIN)).toBe(false);
    expect(tooLargeAlone(1_001, 1_000 + REQUEST_MARGIN)).toBe(true);
  });

  it('counts key, value and headers in UTF-8 bytes', () => {
    const small = recordBytes({ topic: 't', key: 'k', value: 'v' });
    expect(recordBytes({ topic: 't', key: 'k', value: 'é' })).toBe(small + 1);
    expect(recordBytes({ topic: 't', key: 'k', value: 'v', headers: { a: 'b' } })).toBeGreaterThan(small + 2);
  });
});

const event = (key: string, version: number, bytes = 100): PendingEvent => ({
  outboxId: `${key}-${version}`,
  topic: 'products',
  key,
  envelope: { id: `${key}-${version}`, aggregateversion: version, data: 'x'.repeat(bytes) } as never,
});

/** A producer that records each request; it refuses requests above `refuseAbove` bytes as the broker does. */
function recordingProducer(limit: number, refuseAbove = Infinity) {
  const requests: string[][] = [];
  const producer: MessageProducer = {
    async send(messages: OutgoingMessage[]) {
      const bytes = messages.reduce((sum, m) => sum + m.value.length, 0);
      if (bytes > refuseAbove) {
        throw Object.assign(
          new Error('The request included a message larger than the max message size the server will accept'),
          {
            type: 'MESSAGE_TOO_LARGE',
          },
        );
      }
      requests.push(messages.map((m) => (JSON.parse(m.value) as { id: string }).id));
    },
    maxBatchBytes: async () => limit,
    close: async () => undefined,
  };
  return { producer, requests };
}

describe('publishBounded', () => {
  it('splits a batch into requests below the limit, in order', async () => {
    const { producer, requests } = recordingProducer(1_000 + REQUEST_MARGIN);
    const events = [event('a', 1, 300), event('b', 1, 300), event('a', 2, 300), event('c', 1, 300)];
    const outcome = await publishBounded(producer, events);
    expect(requests).toEqual([
      ['a-1', 'b-1'],
      ['a-2', 'c-1'],
    ]);
    expect(outcome.published.map((e) => e.outboxId)).toEqual(['a-1', 'b-1', 'a-2', 'c-1']);
    expect(outcome.parked).toEqual([]);
  });

  it('parks an event too large alone and holds its key behind it; other keys go on', async () => {
    const { producer, requests } = recordingProducer(1_000 + REQUEST_MARGIN);
    const events = [event('a', 1), event('a', 2, 5_000), event('b', 1), event('a', 3), event('b', 2)];
    const outcome = await publishBounded(producer, events);
    expect(outcome.parked.map(({ event: e }) => e.outboxId)).toEqual(['a-2']);
    expect(outcome.parked[0]!.reason).toMatch(/larger than topic products accepts/);
    expect(outcome.published.map((e) => e.outboxId)).toEqual(['a-1', 'b-1', 'b-2']);
    expect(requests.flat()).not.toContain('a-3');
  });

  it('halves a request the broker refuses for its size, down to the event at fault', async () => {
    // the estimate lets everything through; the broker refuses anything over 2,000 bytes
    const { producer, requests } = recordingProducer(1_000_000, 2_000);
    const events = [
      event('a', 1, 500),
      event('b', 1, 500),
      event('c', 1, 3_000),
      event('d', 1, 500),
      event('c', 2),
    ];
    const outcome = await publishBounded(producer, events);
    expect(outcome.parked.map(({ event: e }) => e.outboxId)).toEqual(['c-1']);
    expect(outcome.parked[0]!.reason).toMatch(/refused by the broker/);
    expect(outcome.published.map((e) => e.outboxId)).toEqual(['a-1', 'b-1', 'd-1']);
    expect(requests.flat()).toEqual(['a-1', 'b-1', 'd-1']);
  });

  it('throws on any other failure: an outage, the whole batch is retried', async () => {
    const producer: MessageProducer = {
      send: async () => Promise.reject(new Error('Connection error: ECONNREFUSED')),
      maxBatchBytes: async () => 1_000_000,
      close: async () => undefined,
    };
    await expect(publishBounded(producer, [event('a', 1)])).rejects.toThrow('ECONNREFUSED');
  });
});
