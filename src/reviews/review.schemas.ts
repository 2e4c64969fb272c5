import Type from 'typebox';
import { Author, Rating, ReviewBody as Body, Title } from '../contracts/bounds.js';

/** HTTP shapes of the reviews API. Bodies admit no unknown fields (LOCUS_UNKNOWN_FIELD). */

const Uuid = Type.String({ format: 'uuid' });

export const ProductParams = Type.Object({ productId: Uuid }, { additionalProperties: false });
export const ReviewParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const CreateReviewBody = Type.Object(
  { author: Author, rating: Rating, title: Title, body: Body },
  { additionalProperties: false },
);

/** Most reviews one `POST /reviews:batch` carries. */
const MAX_BATCH_ITEMS = 500;

/**
 * A batch: each item a review as `POST /products/:productId/reviews` takes it, plus its product. The
 * batch is checked whole before anything is written, so a bad item's error names it and changes nothing.
 */
export const CreateReviewBatchBody = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        { productId: Uuid, author: Author, rating: Rating, title: Title, body: Body },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_BATCH_ITEMS },
    ),
  },
  { additionalProperties: false },
);

export const PatchReviewBody = Type.Object(
  {
    author: Type.Optional(Author),
    rating: Type.Optional(Rating),
    title: Type.Optional(Title),
    body: Type.Optional(Body),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const CreateHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});

/**
 * `If-Match: "3"` (the ETag this service sends; a bare `3` is accepted too) makes a write conditional;
 * `*` or no header applies it to whatever version is current.
 */
export const ConditionalHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ pattern: '^(\\*|(W/)?"?[1-9][0-9]{0,14}"?)$' })),
});

export const ReviewResource = Type.Object({
  id: Uuid,
  productId: Uuid,
  author: Type.String(),
  rating: Type.Integer(),
  title: Type.String(),
  body: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  version: Type.Integer({ minimum: 1 }),
});

export const ReviewBatchResource = Type.Object({ items: Type.Array(ReviewResource) });

export const ExportQuery = Type.Object(
  {
    after: Type.Optional(Uuid),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);

export const ExportPage = Type.Object({
  items: Type.Array(ReviewResource),
  /** Pass as `after` for the next page; null on the last page. */
  next: Type.Union([Uuid, Type.Null()]),
});
