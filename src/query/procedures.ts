import type pg from 'pg';
import QueryStream from 'pg-query-stream';
import { bandEdges } from './analytics.aggregate.js';
import type { AnalyticsPath } from './analytics.path.js';
import type {
  CategoryReport,
  CategoryReportParams,
  ExportLine,
  ExportParams,
  RatingTrendParams,
  RollupBucket,
  RollupParams,
  TopRatedCategory,
  TopRatedParams,
  TrendPoint,
} from './analytics.types.js';
import type { Queryable } from './read-store.js';
import { round, roundOrNull } from './rounding.js';

/*
 * The ONE module that calls the stored procedures of procedures/analytics.sql. Callers pass a
 * connection of the REPLICA (ReadStore.inFreshSnapshot); nothing here ever runs on the primary.
 * Procedures return unrounded float8; this module rounds with the same `round` as the Node strategies.
 */

/** Rows a cursor fetches per round trip; a result known to be no larger is read without a cursor. */
export const CURSOR_BATCH_ROWS = 1000;

/** A heavy query's procedure on `path`: `<name>` reads review_view, `<name>_rollup` the rollups. */
const onPath = (name: string, path: AnalyticsPath) => (path === 'rollup' ? `${name}_rollup` : name);

/** Top-rated products per category (`locus_top_rated`). */
export async function callTopRated(
  db: Queryable,
  params: TopRatedParams,
  path: AnalyticsPath = 'raw',
): Promise<TopRatedCategory[]> {
  const { rows } = await db.query<{
    category_id: string;
    category_name: string | null;
    product_id: string;
    product_name: string;
    review_count: number;
    average_rating: number;
    score: number;
    rank: number;
  }>(`SELECT * FROM ${onPath('locus_top_rated', path)}($1, $2, $3, $4, $5, $6)`, [
    params.categoryId,
    params.from,
    params.to,
    params.minReviews,
    params.limit,
    params.priorWeight,
  ]);
  const categories: TopRatedCategory[] = [];
  for (const row of rows) {
    let category = categories.at(-1);
    if (category?.categoryId !== row.category_id) {
      category = { categoryId: row.category_id, categoryName: row.category_name, products: [] };
      categories.push(category);
    }
    category.products.push({
      productId: row.product_id,
      name: row.product_name,
      reviewCount: row.review_count,
      averageRating: round(row.average_rating),
      score: round(row.score),
      rank: row.rank,
    });
  }
  return categories;
}

/** Rating trend per bucket (`locus_rating_trend`). */
export async function callRatingTrend(
  db: Queryable,
  params: RatingTrendParams,
  path: AnalyticsPath = 'raw',
): Promise<TrendPoint[]> {
  const { rows } = await db.query<{ bucket_start: Date; review_count: number; average_rating: number }>(
    `SELECT * FROM ${onPath('locus_rating_trend', path)}($1, $2, $3, $4, $5)`,
    [params.productId, params.categoryId, params.from, params.to, params.bucket],
  );
  return rows.map((row) => ({
    bucketStart: row.bucket_start.toISOString(),
    reviewCount: row.review_count,
    averageRating: round(row.average_rating),
  }));
}

/**
 * Category report (`locus_category_report` + `locus_category_price_bands`): both in ONE statement, so
 * they read one snapshot in one round trip. Each comes back as a JSON array of its rows, in the
 * order the procedure returns them; float8 values survive JSON exactly (shortest round-trip text).
 */
export async function callCategoryReport(
  db: Queryable,
  params: CategoryReportParams,
  path: AnalyticsPath = 'raw',
): Promise<CategoryReport[]> {
  const { rows: both } = await db.query<{
    reports: {
      category_id: string;
      category_name: string | null;
      product_count: number;
      review_count: number;
      average_rating: number | null;
      rating_distribution: number[];
    }[];
    bands: {
      category_id: string;
      band: number;
      product_count: number;
      review_count: number;
      average_rating: number | null;
    }[];
  }>(
    `SELECT (SELECT COALESCE(json_agg(r), '[]') FROM ${onPath('locus_category_report', path)}($1, $2, $3) r) AS reports,
            (SELECT COALESCE(json_agg(b), '[]') FROM ${onPath('locus_category_price_bands', path)}($1, $2, $3, $4) b) AS bands`,
    [params.categoryId, params.from, params.to, params.priceEdges],
  );
  const { reports: rows, bands } = both[0]!;
  const reports = rows.map((row): CategoryReport => ({
    categoryId: row.category_id,
    categoryName: row.category_name,
    productCount: row.product_count,
    reviewCount: row.review_count,
    averageRating: roundOrNull(row.average_rating),
    ratingDistribution: row.rating_distribution,
    priceBands: [],
  }));
  const byCategory = new Map(reports.map((report) => [report.categoryId, report]));
  for (const band of bands) {
    byCategory.get(band.category_id)?.priceBands.push({
      band: band.band,
      ...bandEdges(band.band, params.priceEdges),
      productCount: band.product_count,
      reviewCount: band.review_count,
      averageRating: roundOrNull(band.average_rating),
    });
  }
  return reports;
}

/** Rollup into `groups` buckets by review id (`locus_rollup`). */
export async function callRollup(db: Queryable, params: RollupParams): Promise<RollupBucket[]> {
  const { rows } = await db.query<{ bucket: number; review_count: number; average_rating: number }>(
    'SELECT * FROM locus_rollup($1, $2, $3)',
    [params.groups, params.from, params.to],
  );
  return rows.map((row) => ({
    bucket: row.bucket,
    reviewCount: row.review_count,
    averageRating: round(row.average_rating),
  }));
}

/**
 * Streams `locus_rollup` through a server-side cursor, in bucket order, so a rollup into millions of
 * groups is never held whole in memory. The client must stay checked out until the iteration ends.
 */
export async function* streamRollup(
  client: pg.PoolClient,
  params: RollupParams,
): AsyncGenerator<RollupBucket> {
  const stream = client.query(
    new QueryStream('SELECT * FROM locus_rollup($1, $2, $3)', [params.groups, params.from, params.to], {
      batchSize: CURSOR_BATCH_ROWS,
    }),
  );
  try {
    for await (const row of stream as AsyncIterable<{
      bucket: number;
      review_count: number;
      average_rating: number;
    }>) {
      yield { bucket: row.bucket, reviewCount: row.review_count, averageRating: round(row.average_rating) };
    }
  } finally {
    stream.destroy();
  }
}

interface ExportRecord {
  review_id: string;
  product_id: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  created_at: Date;
  product_name: string;
  sku: string;
  category_id: string | null;
  price_amount: number;
  price_currency: string;
}

/**
 * Streams `locus_review_export` through a server-side cursor (bounded memory), in review id order.
 * The client must stay checked out until the iteration ends.
 */
export async function* streamReviewExport(
  client: pg.PoolClient,
  params: ExportParams,
): AsyncGenerator<ExportLine> {
  const stream = client.query(
    new QueryStream('SELECT * FROM locus_review_export($1, $2)', [params.from, params.to], {
      batchSize: CURSOR_BATCH_ROWS,
    }),
  );
  try {
    for await (const row of stream as AsyncIterable<ExportRecord>) {
      yield {
        reviewId: row.review_id,
        productId: row.product_id,
        author: row.author,
        rating: row.rating,
        title: row.title,
        body: row.body,
        createdAt: row.created_at.toISOString(),
        productName: row.product_name,
        sku: row.sku,
        categoryId: row.category_id,
        priceAmount: row.price_amount,
        priceCurrency: row.price_currency,
      };
    }
  } finally {
    stream.destroy();
  }
}
