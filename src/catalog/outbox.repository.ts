import type { Transaction } from 'kysely';
import type { EventEnvelope } from '../contracts/envelope.js';
import type { CatalogDb } from './catalog.tables.js';

export interface OutboxEntry {
  topic: string;
  /** Kafka partition key: the product id for product events, the category id for category events. */
  key: string;
  envelope: EventEnvelope;
}

/**
 * Records an event in the outbox. Takes a transaction so the event commits (or vanishes) together
 * with the change it describes; the relay polls for it (see relay/idle-backoff.ts).
 */
export async function appendToOutbox(trx: Transaction<CatalogDb>, entry: OutboxEntry): Promise<void> {
  await trx
    .insertInto('outbox')
    .values({
      event_id: entry.envelope.id,
      topic: entry.topic,
      partition_key: entry.key,
      aggregate_type: entry.envelope.aggregatetype,
      aggregate_id: entry.envelope.subject,
      aggregate_version: entry.envelope.aggregateversion,
      envelope: JSON.stringify(entry.envelope),
      published_at: null,
    })
    .execute();
}
