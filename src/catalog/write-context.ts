import type { Transaction } from 'kysely';
import type { EventTypeDefinition } from '../contracts/envelope.js';
import { createEnvelope } from '../contracts/registry.js';
import type { Topics } from '../contracts/topics.js';
import type { Clock, IdGenerator } from '../shared/clock.js';
import type { CatalogDb } from './catalog.tables.js';
import { appendToOutbox } from './outbox.repository.js';

/** What every catalog write needs besides its transaction: time, identity, and where events go. */
export interface WriteContext {
  clock: Clock;
  newId: IdGenerator;
  topics: Topics;
}

/**
 * Records one change event in the outbox, in the write's transaction. `aggregateId` is also the
 * partition key (product id for product events, category id for category events).
 */
export async function recordEvent<D>(
  trx: Transaction<CatalogDb>,
  context: WriteContext,
  event: {
    definition: EventTypeDefinition;
    topic: string;
    aggregateId: string;
    version: number;
    data: D;
    time: Date;
  },
): Promise<void> {
  const envelope = createEnvelope(event.definition, {
    id: context.newId(),
    subject: event.aggregateId,
    time: event.time,
    aggregateVersion: event.version,
    data: event.data,
  });
  await appendToOutbox(trx, { topic: event.topic, key: event.aggregateId, envelope });
}
