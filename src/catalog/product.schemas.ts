import Type from 'typebox';
import { Money, ProductState } from '../contracts/catalog.events.js';

/** A product in responses and exports: the full state of the event schemas plus `version`. */
export const ProductBody = Type.Object({
  ...ProductState.properties,
  version: Type.Integer({ minimum: 1 }),
});

const Sku = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 10_000 });
const CategoryId = Type.Union([Type.String({ format: 'uuid' }), Type.Null()]);
const Attributes = Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 100 });

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
