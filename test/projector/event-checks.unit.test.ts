import { describe, expect, it } from 'vitest';
import { ProductUpdatedV1 } from '../../src/contracts/catalog.events.js';
import { createEnvelope } from '../../src/contracts/registry.js';
import type { IncomingMessage } from '../../src/messaging/kafka.js';
import { decodeMessage } from '../../src/projector/batch/decode.js';

const id = '0b6f7c1e-5a0b-4a8e-9a57-3c1f6c1d2e3f';
const product = {
  id,
  sku: 'SKU-1',
  name: 'a product',
  description: 'a product',
  categoryId: null,
  price: { amount: 1000, currency: 'EUR' },
  attributes: {},
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

function message(
  topic: string,
  change: (envelope: Record<string, unknown>) => void = () => undefined,
): IncomingMessage {
  const envelope = createEnvelope(ProductUpdatedV1, {
    id: '5d2c8f0e-8a43-4f4a-b7a1-1f2e3d4c5b6a',
    subject: id,
    time: new Date('2026-01-01T00:00:00Z'),
    aggregateVersion: 2,
    data: product,
  }) as unknown as Record<string, unknown>;
  change(envelope);
  return {
    topic,
    partition: 0,
    offset: '0',
    key: id,
    value: Buffer.from(JSON.stringify(envelope)),
    headers: {},
    timestamp: 0,
  };
}

const reasonOf = (m: IncomingMessage) => {
  const decoded = decodeMessage(m);
  return 'reason' in decoded ? decoded.reason : 'applied';
};

describe('events checked before they are applied', () => {
  it('given a product event on its topic, then it is applied', () => {
    expect(reasonOf(message('t1-products'))).toBe('applied');
  });

  it('given a product event on the reviews topic, then it is parked naming both', () => {
    expect(reasonOf(message('t1-reviews'))).toMatch(/product event .* on topic t1-reviews/);
  });

  it("given an aggregatetype other than its registered type's, then it is parked", () => {
    expect(reasonOf(message('t1-products', (e) => (e.aggregatetype = 'review')))).toMatch(
      /aggregatetype review is not product/,
    );
  });

  it('given a version that is no safe integer, then it is parked', () => {
    expect(reasonOf(message('t1-products', (e) => (e.aggregateversion = 2 ** 60)))).toMatch(
      /aggregateversion .* is not a safe integer/,
    );
  });

  it('given a subject other than the id in data, then it is parked', () => {
    expect(
      reasonOf(message('t1-products', (e) => (e.subject = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'))),
    ).toMatch(/is not the id in data/);
  });
});
