import Type from 'typebox';
import { Description, Name } from '../contracts/bounds.js';
import { CategoryState } from '../contracts/catalog.events.js';

/** A category in responses and exports: the full state of the event schemas plus `version`. */
export const CategoryBody = Type.Object({
  ...CategoryState.properties,
  version: Type.Integer({ minimum: 1 }),
});

export const CategoryInput = Type.Object(
  { name: Name, description: Type.Optional({ ...Description, default: '' }) },
  { additionalProperties: false },
);

export const CategoryPatch = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description) },
  { additionalProperties: false, minProperties: 1 },
);
