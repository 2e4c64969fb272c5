import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProductUpdatedV1, type ProductState } from '../../src/contracts/catalog.events.js';
import { createEnvelope } from '../../src/contracts/registry.js';
import type { IncomingBatch, IncomingMessage } from '../../src/messaging/kafka.js';
import { splitAccepted } from '../../src/projector/apply-changes.js';
import { dedupeChanges } from '../../src/projector/batch/accept.js';
import { createDecodeCache, decodeMessage } from '../../src/projector/batch/decode.js';
import {
  freshRanges,
  keysToCheck,
  lettersOf,
  mergeByPartition,
  planBatches,
  type OpenedState,
} from '../../src/projector/batch/plan.js';
import type { Change } from '../../src/projector/projection.types.js';
import { reached } from '../../src/projector/rebuild.swap.js';
import { roundHalfUp } from '../../testkit/model.js';

function productState(id: string, name: string): ProductState {
  const at = '2026-01-01T00:00:00.000Z';
  return {
    id,
    sku: 'S',
    name,
    description: '',
    categoryId: null,
    price: { amount: 1, currency: 'EUR' },
    attributes: {},
    createdAt: at,
    updatedAt: at,
  };
}

function productMessage(offset: number, id: string, version: number, name = `v${version}`): IncomingMessage {
  const envelope = createEnvelope(ProductUpdatedV1, {
    id: randomUUID(),
    subject: id,
    time: new Date(0),
    aggregateVersion: version,
    data: productState(id, name),
  });
  return {
    topic: 'products',
    partition: 0,
    offset: String(offset),
    key: id,
    value: Buffer.from(JSON.stringify(envelope)),
    headers: {},
    timestamp: 0,
  };
}

function raw(offset: number, key: string, value: string): IncomingMessage {
  return {
    topic: 'products',
    partition: 0,
    offset: String(offset),
    key,
    value: Buffer.from(value),
    headers: {},
    timestamp: 0,
  };
}

describe('dedupeChanges', () => {
  it('keeps the highest version of each aggregate, whatever order the versions came in', () => {
    const a = randomUUID();
    const b = randomUUID();
    const change = (id: string, version: number): Change => ({
      aggregateType: 'product',
      id,
      version,
      eventTime: '',
      deleted: false,
      state: productState(id, `v${version}`),
    });
    const result = dedupeChanges([change(a, 2), change(b, 1), change(a, 5), change(a, 3), change(b, 1)]);
    expect(result.map((c) => [c.id, c.version])).toEqual([
      [a, 5],
      [b, 1],
    ]);
  });

  it('treats the same id under two aggregate types as two aggregates', () => {
    const id = randomUUID();
    const result = dedupeChanges([
      { aggregateType: 'product', id, version: 1, eventTime: '', deleted: true, categoryId: null },
      { aggregateType: 'review', id, version: 1, eventTime: '', deleted: true, productId: id },
    ]);
    expect(result).toHaveLength(2);
  });
});

function batchOf(messages: IncomingMessage[], partition = 0, highWatermark = '100'): IncomingBatch {
  return {
    topic: 'products',
    partition,
    highWatermark,
    messages: messages.map((m) => ({ ...m, partition })),
  };
}

function opened(state: Partial<OpenedState> = {}): OpenedState {
  return { stored: new Map(), blocked: new Set(), skipped: new Set(), ...state };
}

describe('planBatches', () => {
  it('ignores messages below the stored position and resumes after the last one', () => {
    const id = randomUUID();
    const plan = planBatches(
      [batchOf([productMessage(7, id, 1), productMessage(8, id, 2), productMessage(9, id, 3)], 0, '12')],
      opened({ stored: new Map([['products/0', 8n]]) }),
      decodeMessage,
    );
    expect(plan).toMatchObject({ skippedBelowPosition: 1, handled: 2, heads: [], waiting: [] });
    expect(plan.events.map((e) => e.change.version)).toEqual([2, 3]);
    expect(plan.positions).toEqual([
      { topic: 'products', partition: 0, nextOffset: '10', highWatermark: '12' },
    ]);
  });

  it('has no position to store when the whole batch is below the stored position', () => {
    const plan = planBatches(
      [batchOf([productMessage(1, randomUUID(), 1)])],
      opened({ stored: new Map([['products/0', 5n]]) }),
      decodeMessage,
    );
    expect(plan).toMatchObject({ skippedBelowPosition: 1, handled: 0, positions: [], events: [] });
  });

  it('parks a poison event and makes later events of the same key wait, while other keys apply', () => {
    const bad = randomUUID();
    const good = randomUUID();
    const plan = planBatches(
      [
        batchOf([
          raw(0, bad, '{oops'),
          productMessage(1, good, 1),
          productMessage(2, bad, 2),
          productMessage(3, good, 2),
        ]),
      ],
      opened(),
      decodeMessage,
    );
    expect(plan.heads.map((h) => [h.message.offset, h.status, h.errorCode, h.attempts])).toEqual([
      ['0', 'parked', 'LOCUS_EVENT_INVALID', 1],
    ]);
    expect(plan.waiting.map((m) => m.offset)).toEqual(['2']);
    expect(plan.events.map((e) => e.message.offset)).toEqual(['1', '3']);
    expect(plan.handled).toBe(4);
  });

  it('makes events wait when their key has a parked event in the store, on that topic only', () => {
    const key = randomUUID();
    const blockedHere = planBatches(
      [batchOf([productMessage(0, key, 4)])],
      opened({ blocked: new Set([`products/${key}`]) }),
      decodeMessage,
    );
    expect(blockedHere.waiting).toHaveLength(1);
    expect(blockedHere.events).toHaveLength(0);
    const blockedElsewhere = planBatches(
      [batchOf([productMessage(0, key, 4)])],
      opened({ blocked: new Set([`reviews/${key}`]) }),
      decodeMessage,
    );
    expect(blockedElsewhere.events).toHaveLength(1);
  });

  it('leaves out what another consumer skipped, yet moves the position past it', () => {
    const id = randomUUID();
    const plan = planBatches(
      [batchOf([productMessage(0, id, 1), productMessage(1, id, 2), productMessage(2, id, 3)])],
      opened({ skipped: new Set(['products/0/1']) }),
      decodeMessage,
    );
    expect(plan.events.map((e) => e.message.offset)).toEqual(['0', '2']);
    expect(plan).toMatchObject({ handled: 3, heads: [], waiting: [] });
    expect(plan.positions[0]!.nextOffset).toBe('3');
  });

  it('plans each partition from its own stored position, one position per partition', () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const plan = planBatches(
      [batchOf([productMessage(4, a, 1), productMessage(5, a, 2)], 0), batchOf([productMessage(9, b, 7)], 3)],
      opened({ stored: new Map([['products/0', 5n]]) }),
      decodeMessage,
    );
    expect(plan.events.map((e) => [e.message.partition, e.message.offset])).toEqual([
      [0, '5'],
      [3, '9'],
    ]);
    expect(plan.positions.map((p) => [p.partition, p.nextOffset])).toEqual([
      [0, '6'],
      [3, '10'],
    ]);
  });

  it('rejects unknown types, schema violations and a subject that is not the data id', () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const valid = (id: string) =>
      JSON.parse(productMessage(0, id, 1).value!.toString()) as Record<string, unknown>;
    const plan = planBatches(
      [
        batchOf([
          raw(0, a, JSON.stringify({ ...valid(a), type: 'locus.catalog.product.renamed.v7' })),
          raw(
            1,
            b,
            JSON.stringify({
              ...valid(b),
              data: { ...(valid(b).data as object), price: { amount: -1, currency: 'EUR' } },
            }),
          ),
          raw(2, c, JSON.stringify({ ...valid(c), subject: randomUUID() })),
        ]),
      ],
      opened(),
      decodeMessage,
    );
    expect(plan.heads.map((p) => p.errorCode)).toEqual([
      'LOCUS_EVENT_UNKNOWN_TYPE',
      'LOCUS_EVENT_INVALID',
      'LOCUS_EVENT_INVALID',
    ]);
    expect(plan.heads[0]!.eventType).toBe('locus.catalog.product.renamed.v7');
  });

  it('parks a message whose key is no uuid (a NUL in it, none at all) alone: nothing waits behind it', () => {
    const id = randomUUID();
    const valid = productMessage(0, id, 1).value!.toString();
    const plan = planBatches(
      [
        batchOf([
          raw(0, `${id}\u0000`, valid),
          { ...raw(1, '', valid), key: null },
          raw(2, `${id}\u0000`, valid),
        ]),
      ],
      opened(),
      decodeMessage,
    );
    expect(plan.heads.map((p) => [p.message.offset, p.errorCode])).toEqual([
      ['0', 'LOCUS_EVENT_INVALID'],
      ['1', 'LOCUS_EVENT_INVALID'],
      ['2', 'LOCUS_EVENT_INVALID'],
    ]);
    expect(plan.heads[0]!.reason).toBe(`message key "${id}\\u0000" is not a uuid`);
    expect(plan.waiting).toEqual([]);
  });

  it('parks an event under a uuid key that is not the one the keying rule gives it, and its key waits', () => {
    const id = randomUUID();
    const other = randomUUID();
    const plan = planBatches(
      [batchOf([raw(0, other, productMessage(0, id, 1).value!.toString()), productMessage(1, other, 1)])],
      opened(),
      decodeMessage,
    );
    expect(plan.heads.map((p) => p.errorCode)).toEqual(['LOCUS_EVENT_INVALID']);
    expect(plan.heads[0]!.reason).toMatch(/is not the event's key/);
    expect(plan.waiting.map((m) => m.offset)).toEqual(['1']);
  });
});

describe('lettersOf', () => {
  it('stores the heads, then the waiting in topic, partition and offset order, each naming its head', () => {
    const key = randomUUID();
    const head = {
      status: 'parked' as const,
      reason: 'bad',
      errorCode: 'LOCUS_EVENT_UNKNOWN_TYPE',
      message: raw(3, key, '{}'),
      eventType: null,
      attempts: 1,
    };
    const letters = lettersOf([head], [raw(9, key, '{}'), raw(5, key, '{}'), raw(7, randomUUID(), '{}')]);
    expect(letters.map((l) => [l.status, l.message.offset, l.errorCode, l.reason])).toEqual([
      ['parked', '3', 'LOCUS_EVENT_UNKNOWN_TYPE', 'bad'],
      ['waiting', '5', 'LOCUS_EVENT_UNKNOWN_TYPE', 'waiting behind offset 3 of the same key'],
      ['waiting', '7', 'LOCUS_EVENT_INVALID', 'waiting behind an earlier parked event of the same key'],
      ['waiting', '9', 'LOCUS_EVENT_UNKNOWN_TYPE', 'waiting behind offset 3 of the same key'],
    ]);
  });
});

describe('what the transaction reads as it opens', () => {
  it('checks the aggregate keys of every message once per topic, and no other key', () => {
    const id = randomUUID();
    const keys = keysToCheck([batchOf([raw(0, id, '{}'), raw(1, id, '{}'), raw(2, 'not-a-uuid', '{}')])]);
    expect(keys).toEqual([{ topic: 'products', key: id }]);
  });

  it('gives the first and last offset past each stored position, for the skips a rebuild honours', () => {
    const ranges = freshRanges(
      [
        batchOf([raw(3, 'k', '{}'), raw(4, 'k', '{}'), raw(6, 'k', '{}')], 0),
        batchOf([raw(1, 'k', '{}')], 1),
      ],
      new Map([
        ['products/0', 4n],
        ['products/1', 2n],
      ]),
    );
    expect(ranges).toEqual([{ topic: 'products', partition: 0, first: '4', last: '6' }]);
  });
});

describe('the decode cache', () => {
  it('hands a batch what was decoded at fetch time, and belongs to one projector', () => {
    const message = productMessage(0, randomUUID(), 1);
    const mine = createDecodeCache();
    const another = createDecodeCache();
    mine.decodeAhead([message]);
    expect(mine.decode(message)).toBe(mine.decode(message));
    expect(another.decode(message)).not.toBe(mine.decode(message));
    expect(another.decode(message)).toEqual(mine.decode(message));
  });
});

describe('splitAccepted', () => {
  it('recomputes the rating summary of changed products and of the products of changed reviews', () => {
    const p = randomUUID();
    const q = randomUUID();
    const split = splitAccepted([
      {
        aggregateType: 'product',
        id: p,
        version: 1,
        eventTime: '',
        deleted: false,
        state: productState(p, 'p'),
      },
      { aggregateType: 'review', id: randomUUID(), version: 2, eventTime: '', deleted: true, productId: q },
      {
        aggregateType: 'product',
        id: randomUUID(),
        version: 3,
        eventTime: '',
        deleted: true,
        categoryId: null,
      },
    ]);
    expect(split.touchedProductIds.sort()).toEqual([p, q].sort());
    expect(split.productDeletes).toHaveLength(1);
  });
});

describe('summary math and helpers', () => {
  it('rounds averages half up at the column scale without binary float ties', () => {
    expect(roundHalfUp(1, 8, 100)).toBe(0.13);
    expect(roundHalfUp(201, 200, 100)).toBe(1.01); // 1.005: a float tie that toFixed gets wrong
    expect(roundHalfUp(13, 3, 10_000)).toBe(4.3333);
  });

  it('knows when a rebuild has reached every partition of its goals', () => {
    const at = (offset: string, partition = 0) => ({ topic: 't', partition, offset });
    expect(reached([at('5'), at('3', 1)], [at('5'), at('2', 1)])).toBe(true);
    expect(reached([at('5')], [at('5'), at('1', 1)])).toBe(false);
    expect(reached([], [at('0')])).toBe(true);
  });

  it('merges consecutive batches of one partition fetched ahead into one, in offset order', () => {
    const batch = (partition: number, offsets: number[], highWatermark: string) => ({
      topic: 'products',
      partition,
      highWatermark,
      messages: offsets.map((o) => ({ ...raw(o, 'k', '{}'), partition })),
    });
    const merged = mergeByPartition([batch(0, [1, 2], '3'), batch(1, [7], '8'), batch(0, [3, 4], '9')]);
    expect(merged.map((b) => [b.partition, b.messages.map((m) => m.offset), b.highWatermark])).toEqual([
      [0, ['1', '2', '3', '4'], '9'],
      [1, ['7'], '8'],
    ]);
  });
});
