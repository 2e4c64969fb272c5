import type { Change } from './projection.types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a Kafka key can be an aggregate's key (see contracts/topics.ts: every key is a uuid). Only
 * such keys are looked up among the dead letters or park the events behind them: any other key (none,
 * a U+0000, text) is parked with its one message, and nothing reaches SQL in it before this check.
 */
export function isAggregateKey(key: string | null): key is string {
  return key !== null && UUID.test(key);
}

/**
 * The key the topic's keying rule gives `change`: the product id for product events and, so that one
 * product's rating changes stay in order, for its reviews' events; the category id for category events.
 */
export function keyOf(change: Change): string {
  if (change.aggregateType !== 'review') return change.id;
  return change.deleted ? change.productId : change.state.productId;
}

/** A key as a reason can quote it: JSON-escaped, so a control character shows instead of acting. */
export function describeKey(key: string | null): string {
  return key === null ? 'none' : JSON.stringify(key);
}
