import Type, { type TSchema } from 'typebox';
import { LocusError } from '../shared/errors.js';

/**
 * The bounds of every field locus accepts, in one place. The write schemas (catalog and reviews), the
 * event schemas the projector validates against, and the query service's filters all build on these,
 * and every bound is chosen so that the stores and view columns can hold it, sums and averages
 * included (test/contracts/bounds.unit.test.ts reads the read-store migrations and checks that).
 *
 * Text is stored in PostgreSQL text and jsonb columns and in MongoDB (FerretDB keeps it in jsonb):
 * none of them holds U+0000, and a lone surrogate has no UTF-8 form (it comes back as U+FFFD). So
 * every string is SafeText, which only admits valid Unicode without U+0000. Lengths count code
 * points, as ajv and typebox/compile both do.
 */

export const SKU_MAX_LENGTH = 64;
export const NAME_MAX_LENGTH = 200;
export const DESCRIPTION_MAX_LENGTH = 10_000;
export const AUTHOR_MAX_LENGTH = 200;
export const TITLE_MAX_LENGTH = 200;
export const REVIEW_BODY_MAX_LENGTH = 10_000;

/**
 * Largest price in minor units. category_summary.price_avg is numeric(14, 2): its integer part holds
 * 12 digits, so an average of prices up to this 11-digit bound always fits, and so do price_amount,
 * price_min and price_max (bigint). Also far below Number.MAX_SAFE_INTEGER, so a price is exact in JS.
 */
export const MAX_PRICE_AMOUNT = 99_999_999_999;

/**
 * Reviews one product (or one category) can count before product_summary.rating_sum, an integer of
 * up to five stars per review, would overflow. Not enforced: no product comes near it.
 */
export const RATING_SUM_CAPACITY = Math.floor((2 ** 31 - 1) / 5);

/**
 * An aggregate version as text (consistency tokens, If-Match): up to 15 digits, exact in JS and far
 * within the bigint version columns.
 */
export const VERSION_TEXT_PATTERN = '[1-9][0-9]{0,14}';

/** A UUID in its canonical 8-4-4-4-12 form: what a uuid column accepts without a syntax error. */
export const UUID_PATTERN = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

export const ATTRIBUTE_KEY_MAX_LENGTH = 100;
/** Properties of the attributes object and of every object nested in it; items of every array. */
export const ATTRIBUTE_MAX_ENTRIES = 100;
/** Containers (objects, arrays) that may nest below the attributes object itself. */
export const ATTRIBUTE_MAX_DEPTH = 5;
const ATTRIBUTE_STRING_MAX_LENGTH = 1_000;
/**
 * The attributes object serialized as JSON (UTF-8 bytes). No schema keyword expresses a size, so the
 * catalog checks it (assertAttributesSize) and the event schema refines it. It keeps a product event
 * far below Kafka's message size limit whatever the other fields hold.
 */
export const ATTRIBUTES_MAX_BYTES = 16 * 1024;

/**
 * Numbers in attributes: JSON has no NaN or Infinity, and a number that parses beyond this (`1e400`)
 * is refused; inside it, every integer is exact and a double survives jsonb's numeric and back.
 */
const ATTRIBUTE_NUMBER_LIMIT = Number.MAX_SAFE_INTEGER;

// With the `u` flag (ajv's default, and typebox/compile's) a surrogate pair is one code point outside
// the class, so 4-byte characters pass while an unpaired surrogate matches D800-DFFF and fails.
const SAFE_TEXT_PATTERN = '^[^\\u0000\\uD800-\\uDFFF]*$';

/** A string of valid Unicode without U+0000, within the given lengths. */
export function SafeText(options: { minLength?: number; maxLength: number; description?: string }) {
  return Type.String({ ...options, pattern: SAFE_TEXT_PATTERN });
}

// A key MongoDB would read as an operator (`$set`) or a path (`a.b`) is refused here as in the reviews
// service (safe-keys.ts), so attributes can move to any store unchanged. Written without a lookahead,
// so that fuzzers generating strings from the pattern (schemathesis) can read it.
const ATTRIBUTE_KEY_PATTERN = '^[^\\u0000\\uD800-\\uDFFF.$][^\\u0000\\uD800-\\uDFFF.]*$';

/** True for a key that starts with `$` or contains `.`. */
export function isUnsafeKey(key: string): boolean {
  return key.startsWith('$') || key.includes('.');
}

export const Sku = Type.String({
  minLength: 1,
  maxLength: SKU_MAX_LENGTH,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
});
export const Name = SafeText({ minLength: 1, maxLength: NAME_MAX_LENGTH });
export const Description = SafeText({ maxLength: DESCRIPTION_MAX_LENGTH });
export const Author = SafeText({ minLength: 1, maxLength: AUTHOR_MAX_LENGTH });
export const Title = SafeText({ maxLength: TITLE_MAX_LENGTH });
export const ReviewBody = SafeText({ maxLength: REVIEW_BODY_MAX_LENGTH });
export const Rating = Type.Integer({ minimum: 1, maximum: 5 });
export const PriceAmount = Type.Integer({ minimum: 0, maximum: MAX_PRICE_AMOUNT });

export const Money = Type.Object(
  {
    /** Integer minor units (cents): no floating point in prices. */
    amount: PriceAmount,
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  },
  { additionalProperties: false },
);

const AttributeKey = Type.String({
  minLength: 1,
  maxLength: ATTRIBUTE_KEY_MAX_LENGTH,
  pattern: ATTRIBUTE_KEY_PATTERN,
});

function attributeObject(values: TSchema) {
  return Type.Object(
    {},
    { additionalProperties: values, propertyNames: AttributeKey, maxProperties: ATTRIBUTE_MAX_ENTRIES },
  );
}

const AttributeScalar = Type.Union([
  Type.Null(),
  Type.Boolean(),
  Type.Number({ minimum: -ATTRIBUTE_NUMBER_LIMIT, maximum: ATTRIBUTE_NUMBER_LIMIT }),
  SafeText({ maxLength: ATTRIBUTE_STRING_MAX_LENGTH }),
]);

/** A JSON value with at most `depth` levels of objects and arrays, unrolled (no $ref to resolve). */
function attributeValue(depth: number): TSchema {
  if (depth === 0) return AttributeScalar;
  const inner = attributeValue(depth - 1);
  return Type.Union([
    AttributeScalar,
    Type.Array(inner, { maxItems: ATTRIBUTE_MAX_ENTRIES }),
    attributeObject(inner),
  ]);
}

/**
 * A product's free-form attributes: an object whose keys are safe, 1..100 code points, and whose
 * values are JSON of bounded depth and width, so that JSON → jsonb → JSON gives the same text back
 * (jsonb orders an object's keys; every string and number comes back as it went in).
 */
export const Attributes = Type.Unsafe<Record<string, unknown>>(
  attributeObject(attributeValue(ATTRIBUTE_MAX_DEPTH)),
);

function attributesBytes(attributes: unknown): number {
  return Buffer.byteLength(JSON.stringify(attributes), 'utf8');
}

/** Attributes with the serialized-size bound as a typebox refinement: for the event schemas. */
export const BoundedAttributes = Type.Refine(
  Attributes,
  (value) => attributesBytes(value) <= ATTRIBUTES_MAX_BYTES,
  (value) => `must be at most ${ATTRIBUTES_MAX_BYTES} bytes as JSON, is ${attributesBytes(value)}`,
);

/**
 * Attributes as responses describe them: any object. What is stored already passed Attributes, and a
 * response serializer given the bounded union would try every branch of it (and a `^.*$` key pattern
 * drops keys holding a line break).
 */
export const ServedAttributes = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  additionalProperties: true,
});

// Largest request bodies that the write schemas admit, however the client encodes its JSON: an astral
// character escaped as two `\uXXXX` takes 12 bytes, any serialized byte of attributes at most 6.
const ESCAPED_CODE_POINT_BYTES = 12;
const ESCAPED_BYTE = 6;
const FRAMING_BYTES = 4 * 1024;

/** Body limit of the catalog's writes: a product with every field at its bound, fully escaped. */
export const CATALOG_BODY_MAX_BYTES =
  ESCAPED_CODE_POINT_BYTES * (SKU_MAX_LENGTH + NAME_MAX_LENGTH + DESCRIPTION_MAX_LENGTH) +
  ESCAPED_BYTE * ATTRIBUTES_MAX_BYTES +
  FRAMING_BYTES;

/** Body limit of the reviews service's writes: a review with every field at its bound, fully escaped. */
export const REVIEWS_BODY_MAX_BYTES =
  ESCAPED_CODE_POINT_BYTES * (AUTHOR_MAX_LENGTH + TITLE_MAX_LENGTH + REVIEW_BODY_MAX_LENGTH) + FRAMING_BYTES;

/**
 * @throws LocusError LOCUS_VALIDATION naming `field` when the attributes serialize to more than
 *   ATTRIBUTES_MAX_BYTES.
 */
export function assertAttributesSize(attributes: unknown, field: string): void {
  const bytes = attributesBytes(attributes);
  if (bytes <= ATTRIBUTES_MAX_BYTES) return;
  const message = `must be at most ${ATTRIBUTES_MAX_BYTES} bytes as JSON, is ${bytes}`;
  throw new LocusError('LOCUS_VALIDATION', `${field}: ${message}`, { details: [{ field, message }] });
}
