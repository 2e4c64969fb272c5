import Type from 'typebox';
import { Attributes, Description, Money, Name, ServedAttributes, Sku } from '../contracts/bounds.js';
import { ProductState } from '../contracts/catalog.events.js';

/** A product in responses and exports: the full state of the event schemas plus `version`. */
export const ProductBody = Type.Object({
  ...ProductState.properties,
  attributes: ServedAttributes,
  version: Type.Integer({ minimum: 1 }),
});

const CategoryId = Type.Union([Type.String({ format: 'uuid' }), Type.Null()]);

/** Body of `POST /products` and `PUT /products/{id}` (PUT replaces every client field). */
export const ProductInput = Type.Object(
  {
    sku: Sku,
    name: Name,
    description: Type.Optional({ ...Description, default: '' }),
    categoryId: Type.Optional({ ...CategoryId, default: null }),
    price: Money,
    attributes: Type.Optional({ ...Attributes, default: {} }),
  },
  { additionalProperties: false },
);

/** Body of `PATCH /products/{id}`: the fields to change; `attributes` and `price` are replaced whole. */
export const ProductPatch = Type.Object(
  {
    sku: Type.Optional(Sku),
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    categoryId: Type.Optional(CategoryId),
    price: Type.Optional(Money),
    attributes: Type.Optional(Attributes),
  },
  { additionalProperties: false, minProperties: 1 },
);
