import Type, { type Static, type TSchema } from 'typebox';

/**
 * The wire form of every locus event: a CloudEvents 1.0 event in structured mode (the whole event,
 * attributes and data, is the JSON value of the Kafka message; content-type
 * `application/cloudevents+json`), with two extension attributes: `aggregatetype` and
 * `aggregateversion`. Structured mode keeps an event self-contained when it is copied to the
 * dead-letter table or replayed from a file.
 *
 * `type` carries the schema version, e.g. `locus.catalog.product.updated.v1`; `subject` is the
 * aggregate id. Each event carries the aggregate's full state after the change (event-carried state
 * transfer), so a consumer only ever needs the newest version of an aggregate and can ignore any
 * event whose `aggregateversion` is not newer than what it has applied.
 */
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

export const EnvelopeAttributes = Type.Object({
  specversion: Type.Literal('1.0'),
  id: Type.String({ minLength: 1 }),
  source: Type.String({ minLength: 1 }),
  type: Type.String({ pattern: '^locus\\.[a-z]+\\.[a-z]+\\.[a-z_]+\\.v[0-9]+$' }),
  subject: Type.String({ minLength: 1 }),
  time: Type.String({ format: 'date-time' }),
  datacontenttype: Type.Literal('application/json'),
  aggregatetype: Type.String({ minLength: 1 }),
  aggregateversion: Type.Integer({ minimum: 1 }),
  data: Type.Unknown(),
});

export type EventEnvelope<Data = unknown> = Omit<Static<typeof EnvelopeAttributes>, 'data'> & { data: Data };

export interface EventTypeDefinition<S extends TSchema = TSchema> {
  /** Full CloudEvents type including the version, e.g. `locus.catalog.product.created.v1`. */
  type: string;
  aggregateType: AggregateType;
  /** `source` attribute of events of this type. */
  source: string;
  schema: S;
}

export const AGGREGATE_TYPES = ['product', 'category', 'review'] as const;
export type AggregateType = (typeof AGGREGATE_TYPES)[number];
