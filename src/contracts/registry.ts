import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { LocusError } from '../shared/errors.js';
import {
  CategoryCreatedV1,
  CategoryUpdatedV1,
  ProductCreatedV1,
  ProductDeletedV1,
  ProductUpdatedV1,
} from './catalog.events.js';
import { EnvelopeAttributes, type EventEnvelope, type EventTypeDefinition } from './envelope.js';
import { ReviewCreatedV1, ReviewDeletedV1, ReviewUpdatedV1 } from './review.events.js';

/**
 * The schema registry of locus: every event type and version that may appear on a topic. A new
 * version of a type is added here beside the old one (never edited in place), and either only adds
 * optional fields or ships an upcaster to the newest version.
 */
export const EVENT_TYPES = [
  ProductCreatedV1,
  ProductUpdatedV1,
  ProductDeletedV1,
  CategoryCreatedV1,
  CategoryUpdatedV1,
  ReviewCreatedV1,
  ReviewUpdatedV1,
  ReviewDeletedV1,
] as const satisfies readonly EventTypeDefinition[];

const envelopeValidator = Compile(EnvelopeAttributes);
const dataValidators = new Map<string, ReturnType<typeof Compile<TSchema>>>(
  EVENT_TYPES.map((def) => [def.type, Compile(def.schema as TSchema)]),
);

/**
 * Parses and validates raw message bytes into an envelope whose `data` matches its registered schema.
 * @throws LocusError LOCUS_EVENT_INVALID (not JSON, envelope or data off-schema) or
 *   LOCUS_EVENT_UNKNOWN_TYPE (a type or version this build does not know). The message names the
 *   first offending field; a consumer parks such an event in its dead-letter table with that reason.
 */
export function decodeEvent(bytes: Buffer | string | null): EventEnvelope {
  if (bytes === null) throw new LocusError('LOCUS_EVENT_INVALID', 'message has no value');
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (error) {
    throw new LocusError('LOCUS_EVENT_INVALID', `value is not JSON: ${(error as Error).message}`);
  }
  if (!envelopeValidator.Check(value)) {
    const first = [...envelopeValidator.Errors(value)][0];
    throw new LocusError(
      'LOCUS_EVENT_INVALID',
      `envelope${first?.instancePath ?? ''}: ${first?.message ?? 'does not match the CloudEvents envelope'}`,
    );
  }
  const envelope = value as EventEnvelope;
  const validator = dataValidators.get(envelope.type);
  if (!validator) throw new LocusError('LOCUS_EVENT_UNKNOWN_TYPE', `unknown event type ${envelope.type}`);
  if (!validator.Check(envelope.data)) {
    const first = [...validator.Errors(envelope.data)][0];
    throw new LocusError(
      'LOCUS_EVENT_INVALID',
      `${envelope.type} data${first?.instancePath ?? ''}: ${first?.message ?? 'does not match its schema'}`,
    );
  }
  return envelope;
}

/** Builds an envelope for a registered event type. The caller supplies identity and time. */
export function createEnvelope<D>(
  definition: EventTypeDefinition,
  fields: { id: string; subject: string; time: Date; aggregateVersion: number; data: D },
): EventEnvelope<D> {
  return {
    specversion: '1.0',
    id: fields.id,
    source: definition.source,
    type: definition.type,
    subject: fields.subject,
    time: fields.time.toISOString(),
    datacontenttype: 'application/json',
    aggregatetype: definition.aggregateType,
    aggregateversion: fields.aggregateVersion,
    data: fields.data,
  };
}
