import type {
  CategoryReport,
  CategoryReportParams,
  CategoryRow,
  ExportLine,
  ExportParams,
  PriceBand,
  ProductRow,
  RatingTrendParams,
  ReviewRow,
  RollupBucket,
  RollupParams,
  TopRatedCategory,
  TopRatedParams,
  TrendBucket,
  TrendPoint,
  Window,
} from './analytics.types.js';
import { round, roundOrNull } from './rounding.js';

/**
 * Where the Node-side strategies get rows: service-join streams them from the replica's tables,
 * composition pages them from the owners' REST APIs. `reviews` may pre-filter by window or not; the
 * aggregations check the window again. Each call starts a fresh stream.
 */
export interface RowSource {
  products(): AsyncIterable<ProductRow>;
  categories(): AsyncIterable<CategoryRow>;
  reviews(window: Window): AsyncIterable<ReviewRow>;
}

const inWindow = (review: ReviewRow, window: Window) =>
  review.createdAt.getTime() >= window.from.getTime() && review.createdAt.getTime() < window.to.getTime();

/** Product rows by id: the build side of every hash join (memory grows with products, not reviews). */
async function productsById(source: RowSource): Promise<Map<string, ProductRow>> {
  const map = new Map<string, ProductRow>();
  for await (const product of source.products()) map.set(product.id, product);
  return map;
}

async function categoryNames(source: RowSource): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for await (const category of source.categories()) map.set(category.id, category.name);
  return map;
}

/** Same order as PostgreSQL's uuid comparison (byte order = lowercase hex order). */
const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Top-rated products per category, exactly as `locus_top_rated` defines it (procedures/analytics.sql):
 * the float operations run in the same order so the unrounded values are bit-identical.
 */
export async function topRated(source: RowSource, params: TopRatedParams): Promise<TopRatedCategory[]> {
  const products = await productsById(source);
  const stats = new Map<string, { n: number; s: number }>();
  let globalCount = 0;
  let globalSum = 0;
  for await (const review of source.reviews(params)) {
    const product = products.get(review.productId);
    if (!product || !inWindow(review, params)) continue;
    globalCount += 1;
    globalSum += review.rating;
    if (product.categoryId === null) continue;
    if (params.categoryId !== null && product.categoryId !== params.categoryId) continue;
    const entry = stats.get(product.id) ?? { n: 0, s: 0 };
    entry.n += 1;
    entry.s += review.rating;
    stats.set(product.id, entry);
  }
  if (globalCount === 0) return [];
  const priorMean = globalSum / globalCount;
  const m = params.priorWeight;
  const perCategory = new Map<string, { product: ProductRow; n: number; avg: number; score: number }[]>();
  for (const [productId, { n, s }] of stats) {
    if (n < params.minReviews) continue;
    const product = products.get(productId)!;
    const list = perCategory.get(product.categoryId!) ?? [];
    list.push({ product, n, avg: s / n, score: (m * priorMean + s) / (m + n) });
    perCategory.set(product.categoryId!, list);
  }
  const names = await categoryNames(source);
  return [...perCategory.keys()].sort(byId).map((categoryId) => ({
    categoryId,
    categoryName: names.get(categoryId) ?? null,
    products: perCategory
      .get(categoryId)!
      .sort((a, b) => b.score - a.score || byId(a.product.id, b.product.id))
      .slice(0, params.limit)
      .map((entry, index) => ({
        productId: entry.product.id,
        name: entry.product.name,
        reviewCount: entry.n,
        averageRating: round(entry.avg),
        score: round(entry.score),
        rank: index + 1,
      })),
  }));
}

/** Start of the UTC day, ISO week (Monday) or month holding `date`, like `date_trunc` at UTC. */
export function bucketStart(date: Date, bucket: TrendBucket): Date {
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  if (bucket === 'month') return new Date(Date.UTC(year, month, 1));
  const day = Date.UTC(year, month, date.getUTCDate());
  if (bucket === 'day') return new Date(day);
  const sinceMonday = (date.getUTCDay() + 6) % 7;
  return new Date(day - sinceMonday * 86_400_000);
}

/** Rating trend, exactly as `locus_rating_trend` defines it. */
export async function ratingTrend(source: RowSource, params: RatingTrendParams): Promise<TrendPoint[]> {
  const products = await productsById(source);
  const buckets = new Map<number, { n: number; s: number }>();
  for await (const review of source.reviews(params)) {
    const product = products.get(review.productId);
    if (!product || !inWindow(review, params)) continue;
    if (params.productId !== null && review.productId !== params.productId) continue;
    if (params.categoryId !== null && product.categoryId !== params.categoryId) continue;
    const key = bucketStart(review.createdAt, params.bucket).getTime();
    const entry = buckets.get(key) ?? { n: 0, s: 0 };
    entry.n += 1;
    entry.s += review.rating;
    buckets.set(key, entry);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([key, { n, s }]) => ({
      bucketStart: new Date(key).toISOString(),
      reviewCount: n,
      averageRating: round(s / n),
    }));
}

/** The price band of a price: how many edges are <= it (PostgreSQL's `width_bucket(price, edges)`). */
export function priceBandOf(price: number, edges: readonly number[]): number {
  let band = 0;
  while (band < edges.length && edges[band]! <= price) band += 1;
  return band;
}

/** The edges bounding band `band` (null where unbounded). */
export function bandEdges(band: number, edges: readonly number[]): Pick<PriceBand, 'minPrice' | 'maxPrice'> {
  return { minPrice: band === 0 ? null : edges[band - 1]!, maxPrice: edges[band] ?? null };
}

/** Category report, exactly as `locus_category_report` + `locus_category_price_bands` define it. */
export async function categoryReport(
  source: RowSource,
  params: CategoryReportParams,
): Promise<CategoryReport[]> {
  const products = new Map<string, ProductRow>();
  for await (const product of source.products()) {
    if (product.categoryId === null) continue;
    if (params.categoryId !== null && product.categoryId !== params.categoryId) continue;
    products.set(product.id, product);
  }
  const perProduct = new Map<string, { n: number; s: number }>();
  const perCategory = new Map<string, { n: number; s: number; distribution: number[] }>();
  for await (const review of source.reviews(params)) {
    const product = products.get(review.productId);
    if (!product || !inWindow(review, params)) continue;
    const productEntry = perProduct.get(product.id) ?? { n: 0, s: 0 };
    productEntry.n += 1;
    productEntry.s += review.rating;
    perProduct.set(product.id, productEntry);
    const categoryEntry = perCategory.get(product.categoryId!) ?? {
      n: 0,
      s: 0,
      distribution: [0, 0, 0, 0, 0],
    };
    categoryEntry.n += 1;
    categoryEntry.s += review.rating;
    categoryEntry.distribution[review.rating - 1]! += 1;
    perCategory.set(product.categoryId!, categoryEntry);
  }
  const reports = new Map<string, CategoryReport>();
  const bands = new Map<string, Map<number, { products: number; n: number; s: number }>>();
  for (const product of products.values()) {
    const categoryId = product.categoryId!;
    let report = reports.get(categoryId);
    if (!report) {
      const reviews = perCategory.get(categoryId);
      report = {
        categoryId,
        categoryName: null,
        productCount: 0,
        reviewCount: reviews?.n ?? 0,
        averageRating: reviews ? round(reviews.s / reviews.n) : null,
        ratingDistribution: reviews?.distribution ?? [0, 0, 0, 0, 0],
        priceBands: [],
      };
      reports.set(categoryId, report);
      bands.set(categoryId, new Map());
    }
    report.productCount += 1;
    const band = priceBandOf(product.priceAmount, params.priceEdges);
    const bandEntry = bands.get(categoryId)!.get(band) ?? { products: 0, n: 0, s: 0 };
    const reviews = perProduct.get(product.id);
    bandEntry.products += 1;
    bandEntry.n += reviews?.n ?? 0;
    bandEntry.s += reviews?.s ?? 0;
    bands.get(categoryId)!.set(band, bandEntry);
  }
  const names = await categoryNames(source);
  return [...reports.values()]
    .sort((a, b) => byId(a.categoryId, b.categoryId))
    .map((report) => ({
      ...report,
      categoryName: names.get(report.categoryId) ?? null,
      priceBands: [...bands.get(report.categoryId)!.entries()]
        .sort(([a], [b]) => a - b)
        .map(([band, entry]) => ({
          band,
          ...bandEdges(band, params.priceEdges),
          productCount: entry.products,
          reviewCount: entry.n,
          averageRating: roundOrNull(entry.n === 0 ? null : entry.s / entry.n),
        })),
    }));
}

/**
 * The rollup bucket of a review id: its last 8 hex digits (random in v4 and v7 uuids) as an unsigned
 * 32-bit number, modulo `groups` — `('x' || right(id::text, 8))::bit(32)::bigint % groups` in SQL.
 * @example rollupBucketOf('00000000-0000-4000-8000-0000000000ff', 10) === 5
 */
export function rollupBucketOf(reviewId: string, groups: number): number {
  return Number.parseInt(reviewId.slice(-8), 16) % groups;
}

/** Rollup, exactly as `locus_rollup` defines it. */
export async function rollup(source: RowSource, params: RollupParams): Promise<RollupBucket[]> {
  const products = await productsById(source);
  const buckets = new Map<number, { n: number; s: number }>();
  for await (const review of source.reviews(params)) {
    if (!products.has(review.productId) || !inWindow(review, params)) continue;
    const key = rollupBucketOf(review.id, params.groups);
    const entry = buckets.get(key);
    if (entry) {
      entry.n += 1;
      entry.s += review.rating;
    } else {
      buckets.set(key, { n: 1, s: review.rating });
    }
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([bucket, { n, s }]) => ({ bucket, reviewCount: n, averageRating: round(s / n) }));
}

/** Export lines in the order the reviews arrive (review id order from both row sources). */
export async function* exportLines(source: RowSource, params: ExportParams): AsyncGenerator<ExportLine> {
  const products = await productsById(source);
  for await (const review of source.reviews(params)) {
    const product = products.get(review.productId);
    if (!product || !inWindow(review, params)) continue;
    yield toExportLine(review, product);
  }
}

function toExportLine(review: ReviewRow, product: ProductRow): ExportLine {
  return {
    reviewId: review.id,
    productId: review.productId,
    author: review.author,
    rating: review.rating,
    title: review.title,
    body: review.body,
    createdAt: review.createdAt.toISOString(),
    productName: product.name,
    sku: product.sku,
    categoryId: product.categoryId,
    priceAmount: product.priceAmount,
    priceCurrency: product.priceCurrency,
  };
}
