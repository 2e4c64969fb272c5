import type { ViewModule } from '../projection.types.js';
import { categorySummaryView } from './category-summary.view.js';
import { categoryView } from './category.view.js';
import { productRatingView } from './product-rating.view.js';
import { productSummaryView } from './product-summary.view.js';
import { reviewView } from './review.view.js';
import { rollupsView } from './rollups.view.js';

/**
 * Every view, in the order a batch is applied: each reads what the ones before it wrote (product rows
 * before their reviews' denormalised names, reviews before rating summaries, those before categories).
 */
export const VIEWS: readonly ViewModule[] = [
  categoryView,
  productSummaryView,
  reviewView,
  productRatingView,
  categorySummaryView,
  // Last: reads product_summary's categories as this batch leaves them (see rollupsView).
  rollupsView,
];
