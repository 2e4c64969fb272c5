/**
 * The rows every strategy reads and the answers every strategy returns. Locality gets the answers from
 * the procedures; service-join and composition build them from these rows with analytics.aggregate.ts.
 */

/** A product as the joins need it (from product_summary, or from the catalog's ProductState). */
export interface ProductRow {
  id: string;
  sku: string;
  name: string;
  categoryId: string | null;
  priceAmount: number;
  priceCurrency: string;
}

/** A review as the joins need it (from review_view, or from the reviews service's ReviewState). */
export interface ReviewRow {
  id: string;
  productId: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  createdAt: Date;
}

export interface CategoryRow {
  id: string;
  name: string;
}

import type { AnalyticsPathChoice } from './analytics.path.js';

/** A half-open time window `[from, to)`. */
export interface Window {
  from: Date;
  to: Date;
}

/** Which path the locality strategy's procedure takes (analytics.path.ts); `auto` when absent. */
interface PathChoice {
  path?: AnalyticsPathChoice;
}

export interface TopRatedParams extends Window, PathChoice {
  categoryId: string | null;
  minReviews: number;
  limit: number;
  priorWeight: number;
}

export type TrendBucket = 'day' | 'week' | 'month';

export interface RatingTrendParams extends Window, PathChoice {
  productId: string | null;
  categoryId: string | null;
  bucket: TrendBucket;
}

export interface CategoryReportParams extends Window, PathChoice {
  categoryId: string | null;
  /** Ascending price edges in minor units: band i holds edges[i-1] <= price < edges[i]. */
  priceEdges: number[];
}

export type ExportParams = Window;

export interface RollupParams extends Window {
  /** Number of buckets the reviews are folded into (1 ≤ groups ≤ 10,000,000). */
  groups: number;
}

interface TopRatedProduct {
  productId: string;
  name: string;
  reviewCount: number;
  averageRating: number;
  score: number;
  rank: number;
}

export interface TopRatedCategory {
  categoryId: string;
  categoryName: string | null;
  products: TopRatedProduct[];
}

export interface TrendPoint {
  bucketStart: string;
  reviewCount: number;
  averageRating: number;
}

export interface PriceBand {
  band: number;
  /** Inclusive lower edge in minor units; null for the band below the first edge. */
  minPrice: number | null;
  /** Exclusive upper edge; null for the last band. */
  maxPrice: number | null;
  productCount: number;
  reviewCount: number;
  averageRating: number | null;
}

export interface CategoryReport {
  categoryId: string;
  categoryName: string | null;
  productCount: number;
  reviewCount: number;
  averageRating: number | null;
  /** Counts of ratings 1..5 in the window. */
  ratingDistribution: number[];
  priceBands: PriceBand[];
}

/** One non-empty bucket of the rollup. */
export interface RollupBucket {
  bucket: number;
  reviewCount: number;
  averageRating: number;
}

/** One NDJSON line of the export. */
export interface ExportLine {
  reviewId: string;
  productId: string;
  author: string;
  rating: number;
  title: string;
  body: string;
  createdAt: string;
  productName: string;
  sku: string;
  categoryId: string | null;
  priceAmount: number;
  priceCurrency: string;
}
