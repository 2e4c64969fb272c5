import Type, { type Static } from 'typebox';
import type { EventTypeDefinition } from './envelope.js';

const Timestamp = Type.String({ format: 'date-time' });

export const Money = Type.Object(
  {
    /** Integer minor units (cents): no floating point in prices. */
    amount: Type.Integer({ minimum: 0 }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  },
  { additionalProperties: false },
);

/** A product's full state after a change. */
export const ProductState = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sku: Type.String({ minLength: 1 }),
  name: Type.String({ minLength: 1 }),
  description: Type.String(),
  categoryId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  price: Money,
  attributes: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type ProductState = Static<typeof ProductState>;

export const ProductDeleted = Type.Object({
  id: Type.String({ format: 'uuid' }),
  categoryId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  deletedAt: Timestamp,
});
export type ProductDeleted = Static<typeof ProductDeleted>;

/** A category's full state after a change. */
export const CategoryState = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String({ minLength: 1 }),
  description: Type.String(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type CategoryState = Static<typeof CategoryState>;

const source = '/locus/catalog';

export const ProductCreatedV1 = {
  type: 'locus.catalog.product.created.v1',
  aggregateType: 'product',
  source,
  schema: ProductState,
} satisfies EventTypeDefinition;

export const ProductUpdatedV1 = {
  type: 'locus.catalog.product.updated.v1',
  aggregateType: 'product',
  source,
  schema: ProductState,
} satisfies EventTypeDefinition;

export const ProductDeletedV1 = {
  type: 'locus.catalog.product.deleted.v1',
  aggregateType: 'product',
  source,
  schema: ProductDeleted,
} satisfies EventTypeDefinition;

export const CategoryCreatedV1 = {
  type: 'locus.catalog.category.created.v1',
  aggregateType: 'category',
  source,
  schema: CategoryState,
} satisfies EventTypeDefinition;

export const CategoryUpdatedV1 = {
  type: 'locus.catalog.category.updated.v1',
  aggregateType: 'category',
  source,
  schema: CategoryState,
} satisfies EventTypeDefinition;
