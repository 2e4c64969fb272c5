import Type, { type Static } from 'typebox';
import { Author, Rating, ReviewBody, Title } from './bounds.js';
import type { EventTypeDefinition } from './envelope.js';

const Timestamp = Type.String({ format: 'date-time' });

/** A review's full state after a change, with the bounds of the write API (bounds.ts). */
export const ReviewState = Type.Object({
  id: Type.String({ format: 'uuid' }),
  productId: Type.String({ format: 'uuid' }),
  author: Author,
  rating: Rating,
  title: Title,
  body: ReviewBody,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type ReviewState = Static<typeof ReviewState>;

export const ReviewDeleted = Type.Object({
  id: Type.String({ format: 'uuid' }),
  productId: Type.String({ format: 'uuid' }),
  deletedAt: Timestamp,
});
export type ReviewDeleted = Static<typeof ReviewDeleted>;

const source = '/locus/reviews';

export const ReviewCreatedV1 = {
  type: 'locus.reviews.review.created.v1',
  aggregateType: 'review',
  source,
  schema: ReviewState,
} satisfies EventTypeDefinition;

export const ReviewUpdatedV1 = {
  type: 'locus.reviews.review.updated.v1',
  aggregateType: 'review',
  source,
  schema: ReviewState,
} satisfies EventTypeDefinition;

export const ReviewDeletedV1 = {
  type: 'locus.reviews.review.deleted.v1',
  aggregateType: 'review',
  source,
  schema: ReviewDeleted,
} satisfies EventTypeDefinition;
