import type { AggregateType, EventEnvelope } from '../contracts/envelope.js';
import { EVENT_TYPES } from '../contracts/registry.js';
import { topicFor, topicNames } from '../contracts/topics.js';
import { LocusError } from '../shared/errors.js';

const AGGREGATE_OF_TYPE = new Map<string, AggregateType>(
  EVENT_TYPES.map((def) => [def.type, def.aggregateType]),
);
/** Each aggregate's topic without the deployment's prefix: a topic name ends with it. */
const UNPREFIXED = topicNames('');

/**
 * What the schema cannot say about a decoded event, checked before it can reach a view: its
 * `aggregatetype` is its registered type's, it arrived on that aggregate's topic, and its version is a
 * safe integer (the views store it as bigint and compare it as a number; a forged huge version would
 * hide every later genuine event behind the version guard). Version gaps are not refused: events
 * carry full state, and a relay dead letter skipped by an operator legitimately leaves one.
 * @throws LocusError LOCUS_EVENT_INVALID naming what does not match.
 */
export function checkEvent(envelope: EventEnvelope, topic: string): void {
  const aggregate = AGGREGATE_OF_TYPE.get(envelope.type);
  if (envelope.aggregatetype !== aggregate) {
    throw new LocusError(
      'LOCUS_EVENT_INVALID',
      `aggregatetype ${envelope.aggregatetype} is not ${aggregate ?? 'registered'} (the aggregate of ${envelope.type})`,
    );
  }
  const home = topicFor(UNPREFIXED, aggregate);
  if (!topic.endsWith(home)) {
    throw new LocusError(
      'LOCUS_EVENT_INVALID',
      `${aggregate} event ${envelope.type} on topic ${topic}: it belongs on the ${home} topic`,
    );
  }
  if (!Number.isSafeInteger(envelope.aggregateversion) || envelope.aggregateversion < 1) {
    throw new LocusError(
      'LOCUS_EVENT_INVALID',
      `aggregateversion ${envelope.aggregateversion} is not a safe integer of at least 1`,
    );
  }
}
