import Type from 'typebox';
import {
  MAX_PRICE_AMOUNT,
  PriceAmount,
  ServedAttributes,
  UUID_PATTERN,
  VERSION_TEXT_PATTERN,
} from '../contracts/bounds.js';
import { ErrorBody } from '../shared/error-body.js';
import { STRATEGY_CHOICES } from './strategy.router.js';
import { ANALYTICS_PATH_CHOICES } from './analytics.path.js';

const Uuid = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

/** Error responses every query route may give (documented in the OpenAPI document). */
export const errorResponses = {
  400: ErrorBody,
  404: ErrorBody,
  503: ErrorBody,
  504: ErrorBody,
};

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

const consistencyToken = Type.Optional(
  Type.String({
    pattern: `^(product|category|review):${UUID_PATTERN}:${VERSION_TEXT_PATTERN}$`,
    description: 'read-your-writes token `<type>:<id>:<version>` (or header Locus-Consistency-Token)',
  }),
);

/** A price filter, in the bounds every stored price has (bounds.ts). */
const PriceFilter = Type.Optional({ ...PriceAmount, description: 'minor units, inclusive' });
const PRICE_DIGITS = String(MAX_PRICE_AMOUNT).length;

export const ProductBody = Type.Object({
  id: Uuid,
  sku: Type.String(),
  name: Type.String(),
  description: Type.String(),
  categoryId: Nullable(Uuid),
  categoryName: Nullable(Type.String()),
  price: Type.Object({ amount: Type.Integer(), currency: Type.String() }),
  attributes: ServedAttributes,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  version: Type.Integer(),
  reviewCount: Type.Integer(),
  averageRating: Nullable(Type.Number()),
  ratingHistogram: Type.Array(Type.Integer()),
  lastReviewAt: Nullable(Timestamp),
});

export const ProductQuery = Type.Object({ consistencyToken }, { additionalProperties: false });

export const ProductListQuery = Type.Object(
  {
    categoryId: Type.Optional(Uuid),
    minPrice: PriceFilter,
    maxPrice: PriceFilter,
    minRating: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
    sort: Type.Union([Type.Literal('rating'), Type.Literal('price'), Type.Literal('newest')], {
      default: 'rating',
    }),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    consistencyToken,
  },
  { additionalProperties: false },
);

export const ProductPage = Type.Object({
  items: Type.Array(ProductBody),
  nextCursor: Nullable(Type.String()),
});

export const ReviewListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    consistencyToken,
  },
  { additionalProperties: false },
);

export const ReviewPage = Type.Object({
  items: Type.Array(
    Type.Object({
      id: Uuid,
      productId: Uuid,
      author: Type.String(),
      rating: Type.Integer(),
      title: Type.String(),
      body: Type.String(),
      createdAt: Timestamp,
      updatedAt: Timestamp,
      version: Type.Integer(),
    }),
  ),
  nextCursor: Nullable(Type.String()),
});

export const CategorySummaryBody = Type.Object({
  categoryId: Uuid,
  name: Nullable(Type.String()),
  productCount: Type.Integer(),
  priceMin: Nullable(Type.Integer()),
  priceMax: Nullable(Type.Integer()),
  priceAvg: Nullable(Type.Number()),
  reviewCount: Type.Integer(),
  averageRating: Nullable(Type.Number()),
});

const strategy = Type.Union(
  STRATEGY_CHOICES.map((name) => Type.Literal(name)),
  {
    default: 'auto',
    description:
      'locality = procedure on the replica; service-join = raw replica rows joined here; composition = owners’ REST APIs',
  },
);
const from = Type.Optional(Timestamp);
const to = Type.Optional(Timestamp);
/** The procedure's path under strategy=locality; every path gives the same answer. */
const path = Type.Union(
  ANALYTICS_PATH_CHOICES.map((name) => Type.Literal(name)),
  {
    default: 'auto',
    description:
      'locality only: raw = review_view; rollup = per-day rollups for whole UTC days, review_view at the edges; auto = rollup when the window holds a whole UTC day',
  },
);

export const TopRatedQuery = Type.Object(
  {
    strategy,
    path,
    categoryId: Type.Optional(Uuid),
    from,
    to,
    minReviews: Type.Integer({ minimum: 1, maximum: 10_000, default: 5 }),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'products per category' }),
    priorWeight: Type.Number({
      minimum: 0,
      maximum: 10_000,
      default: 10,
      description: 'Bayesian prior weight m',
    }),
    consistencyToken,
  },
  { additionalProperties: false },
);

export const TopRatedBody = Type.Object({
  window: Type.Object({ from: Timestamp, to: Timestamp }),
  categories: Type.Array(
    Type.Object({
      categoryId: Uuid,
      categoryName: Nullable(Type.String()),
      products: Type.Array(
        Type.Object({
          productId: Uuid,
          name: Type.String(),
          reviewCount: Type.Integer(),
          averageRating: Type.Number(),
          score: Type.Number(),
          rank: Type.Integer(),
        }),
      ),
    }),
  ),
});

export const RatingTrendQuery = Type.Object(
  {
    strategy,
    path,
    productId: Type.Optional(Uuid),
    categoryId: Type.Optional(Uuid),
    from,
    to,
    bucket: Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')], {
      default: 'week',
    }),
    consistencyToken,
  },
  { additionalProperties: false },
);

export const RatingTrendBody = Type.Object({
  window: Type.Object({ from: Timestamp, to: Timestamp }),
  bucket: Type.String(),
  points: Type.Array(
    Type.Object({ bucketStart: Timestamp, reviewCount: Type.Integer(), averageRating: Type.Number() }),
  ),
});

export const CategoryReportQuery = Type.Object(
  {
    strategy,
    path,
    categoryId: Type.Optional(Uuid),
    from,
    to,
    priceEdges: Type.String({
      pattern: `^\\d{1,${PRICE_DIGITS}}(,\\d{1,${PRICE_DIGITS}}){0,19}$`,
      default: '1000,2500,5000,10000',
      description: 'ascending price band edges in minor units, comma-separated (at most 20)',
    }),
    consistencyToken,
  },
  { additionalProperties: false },
);

export const CategoryReportBody = Type.Object({
  window: Type.Object({ from: Timestamp, to: Timestamp }),
  categories: Type.Array(
    Type.Object({
      categoryId: Uuid,
      categoryName: Nullable(Type.String()),
      productCount: Type.Integer(),
      reviewCount: Type.Integer(),
      averageRating: Nullable(Type.Number()),
      ratingDistribution: Type.Array(Type.Integer()),
      priceBands: Type.Array(
        Type.Object({
          band: Type.Integer(),
          minPrice: Nullable(Type.Integer()),
          maxPrice: Nullable(Type.Integer()),
          productCount: Type.Integer(),
          reviewCount: Type.Integer(),
          averageRating: Nullable(Type.Number()),
        }),
      ),
    }),
  ),
});

export const RollupQuery = Type.Object(
  {
    strategy,
    from,
    to,
    groups: Type.Integer({
      minimum: 1,
      maximum: 10_000_000,
      description: 'number of buckets the windowed reviews are folded into, by a hash of the review id',
    }),
    consistencyToken,
  },
  { additionalProperties: false },
);

export const RollupBody = Type.Object({
  window: Type.Object({ from: Timestamp, to: Timestamp }),
  groups: Type.Integer(),
  buckets: Type.Array(
    Type.Object({ bucket: Type.Integer(), reviewCount: Type.Integer(), averageRating: Type.Number() }),
  ),
});

export const ExportQuery = Type.Object(
  { strategy, from, to, consistencyToken },
  { additionalProperties: false },
);
