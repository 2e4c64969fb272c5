import Type, { type Static } from 'typebox';
import { BoundedAttributes, Description, Money, Name, Sku } from './bounds.js';
import type { EventTypeDefinition } from './envelope.js';

const Timestamp = Type.String({ format: 'date-time' });

/**
 * A product's full state after a change. Every field has the bounds of the write API (bounds.ts), so
 * an event off them, however it reached the topic, is parked as invalid instead of reaching a view.
 */
export const ProductState = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sku: Sku,
  name: Name,
  description: Description,
  categoryId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  price: Money,
  attributes: BoundedAttributes,
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
  name: Name,
  description: Description,
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
