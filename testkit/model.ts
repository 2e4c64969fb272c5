// The independent model of the views: what they must hold after a stream of events, computed from
// the events alone, for tests and benchmarks to compare the projector's work against.
import type { Selectable } from 'kysely';
import type { CategoryState, ProductState } from '../src/contracts/catalog.events.js';
import type { EventEnvelope } from '../src/contracts/envelope.js';
import type { ReviewState } from '../src/contracts/review.events.js';
import type { ReadStoreDb } from '../src/shared/read-store.tables.js';
import type { StreamEvent } from './events.js';

/** `created_at` → `createdAt`. */
type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** The value of a column in the model: timestamps as ISO text, `numeric` columns (text in pg) as numbers. */
type ModelValue<T, IsNumeric extends boolean> = T extends Date
  ? string
  : IsNumeric extends true
    ? T extends string
      ? number
      : T
    : T;

/**
 * A row of the read store's `Table` in the model's terms, derived from its Kysely type so the two
 * cannot drift: every column but the key `Key`, camelCased or named by `Renamed`; the `Numeric`
 * columns as numbers. A column added to the table is a field the model and readViews must fill.
 */
type ModelRow<
  Table extends keyof ReadStoreDb,
  Key extends keyof Selectable<ReadStoreDb[Table]>,
  Numeric extends keyof Selectable<ReadStoreDb[Table]> = never,
  Renamed extends Partial<Record<keyof Selectable<ReadStoreDb[Table]>, string>> = Record<never, string>,
> = {
  [
    C in Exclude<keyof Selectable<ReadStoreDb[Table]>, Key> as C extends keyof Renamed
      ? Renamed[C] & string
      : CamelCase<C & string>
  ]: ModelValue<Selectable<ReadStoreDb[Table]>[C], C extends Numeric ? true : false>;
};

/**
 * Every column of every view, in the events' terms: strings as the events carry them (compared
 * exactly), timestamps as ISO text, attributes as parsed JSON (jsonb keeps its own key order).
 */
export interface ExpectedViews {
  categories: Map<string, ModelRow<'category_view', 'id'>>;
  products: Map<
    string,
    ModelRow<
      'product_summary',
      'id',
      'average_rating',
      { price_amount: 'price'; price_currency: 'currency'; rating_histogram: 'histogram' }
    >
  >;
  reviews: Map<string, ModelRow<'review_view', 'id'>>;
  categorySummaries: Map<string, ModelRow<'category_summary', 'category_id', 'price_avg' | 'average_rating'>>;
}

/** What the views must hold after `events`, in any order and with any duplicates: newest version wins. */
export function expectedViews(events: readonly StreamEvent[]): ExpectedViews {
  const newest = new Map<string, EventEnvelope>();
  for (const { envelope } of events) {
    const seen = newest.get(envelope.subject);
    if (!seen || envelope.aggregateversion > seen.aggregateversion) newest.set(envelope.subject, envelope);
  }
  const live = [...newest.values()].filter((e) => !e.type.includes('.deleted.'));
  const of = (type: string) => live.filter((e) => e.aggregatetype === type);
  const views: ExpectedViews = {
    categories: new Map(),
    products: new Map(),
    reviews: new Map(),
    categorySummaries: new Map(),
  };
  for (const e of of('category')) {
    const c = e.data as CategoryState;
    views.categories.set(c.id, {
      name: c.name,
      description: c.description,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
      version: e.aggregateversion,
    });
  }
  for (const e of of('product')) {
    const p = e.data as ProductState;
    views.products.set(p.id, {
      sku: p.sku,
      name: p.name,
      description: p.description,
      categoryId: p.categoryId,
      categoryName: p.categoryId ? (views.categories.get(p.categoryId)?.name ?? null) : null,
      price: p.price.amount,
      currency: p.price.currency,
      attributes: p.attributes,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
      version: e.aggregateversion,
      reviewCount: 0,
      ratingSum: 0,
      averageRating: null,
      histogram: [0, 0, 0, 0, 0],
      lastReviewAt: null,
    });
  }
  for (const e of of('review')) {
    const r = e.data as ReviewState;
    const product = views.products.get(r.productId);
    views.reviews.set(r.id, {
      productId: r.productId,
      author: r.author,
      rating: r.rating,
      title: r.title,
      body: r.body,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      productName: product?.name ?? null,
      categoryId: product?.categoryId ?? null,
      version: e.aggregateversion,
    });
    if (product) {
      product.reviewCount += 1;
      product.ratingSum += r.rating;
      product.histogram[r.rating - 1]! += 1;
      product.averageRating = roundHalfUp(product.ratingSum, product.reviewCount, 10_000);
      if (product.lastReviewAt === null || r.createdAt > product.lastReviewAt)
        product.lastReviewAt = r.createdAt;
    }
  }
  const categoryIds = new Set([
    ...views.categories.keys(),
    ...[...views.products.values()].flatMap((p) => (p.categoryId ? [p.categoryId] : [])),
  ]);
  for (const id of categoryIds) {
    const products = [...views.products.values()].filter((p) => p.categoryId === id);
    const prices = products.map((p) => p.price);
    const reviewCount = products.reduce((n, p) => n + p.reviewCount, 0);
    const ratingSum = products.reduce((n, p) => n + p.ratingSum, 0);
    views.categorySummaries.set(id, {
      name: views.categories.get(id)?.name ?? null,
      productCount: products.length,
      priceMin: prices.length ? Math.min(...prices) : null,
      priceMax: prices.length ? Math.max(...prices) : null,
      // Rounded half up at the columns' scales, in integers (numeric(14,2) and numeric(6,4)).
      priceAvg: prices.length
        ? roundHalfUp(
            prices.reduce((a, b) => a + b, 0),
            prices.length,
            100,
          )
        : null,
      reviewCount,
      averageRating: reviewCount ? roundHalfUp(ratingSum, reviewCount, 10_000) : null,
    });
  }
  return views;
}

/** sum / count rounded half up to 1/scale, computed in integers so binary floats do not decide ties. */
export function roundHalfUp(sum: number, count: number, scale: number): number {
  return Math.floor((2 * sum * scale + count) / (2 * count)) / scale;
}
