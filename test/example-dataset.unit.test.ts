import { describe, expect, it } from 'vitest';
import { seededRandom } from '../testkit/random.js';
import {
  generateCategories,
  generateProducts,
  generateReviews,
  popularitySampler,
  SIZES,
} from '../examples/product-catalog/dataset.js';

describe('example dataset', () => {
  it('is the same for the same seed and differs for another', () => {
    const a = [...generateReviews(SIZES.small, 7)].slice(0, 50);
    const b = [...generateReviews(SIZES.small, 7)].slice(0, 50);
    const c = [...generateReviews(SIZES.small, 8)].slice(0, 50);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(generateProducts(SIZES.small, 7)).toEqual(generateProducts(SIZES.small, 7));
  });

  it('has unique SKUs and valid categories and prices', () => {
    const products = generateProducts(SIZES.small, 1);
    expect(new Set(products.map((p) => p.sku)).size).toBe(products.length);
    for (const product of products) {
      expect(product.categoryKey).toBeLessThan(SIZES.small.categories);
      expect(product.price.amount).toBeGreaterThanOrEqual(500);
      expect(Number.isInteger(product.price.amount)).toBe(true);
    }
    expect(new Set(generateCategories(SIZES.large, 1).map((c) => c.name)).size).toBe(SIZES.large.categories);
  });

  it('gives a few products most of the reviews (Zipf-like)', () => {
    const counts = new Map<number, number>();
    for (const review of generateReviews(SIZES.small, 3)) {
      counts.set(review.productKey, (counts.get(review.productKey) ?? 0) + 1);
    }
    const sorted = [...counts.values()].sort((x, y) => y - x);
    const top10 = sorted.slice(0, 10).reduce((s, n) => s + n, 0);
    // 10 of 200 products (5%) get well over a quarter of all reviews.
    expect(top10 / SIZES.small.reviews).toBeGreaterThan(0.25);
  });

  it('draws J-shaped ratings: 5 most common, 2 least', () => {
    const histogram = [0, 0, 0, 0, 0];
    for (const review of generateReviews(SIZES.small, 4)) histogram[review.rating - 1]! += 1;
    expect(Math.max(...histogram)).toBe(histogram[4]);
    expect(Math.min(...histogram)).toBe(histogram[1]);
  });

  it('samples every product key within range', () => {
    const sample = popularitySampler(50, seededRandom(9));
    for (let i = 0; i < 1000; i++) {
      const key = sample();
      expect(key).toBeGreaterThanOrEqual(0);
      expect(key).toBeLessThan(50);
    }
  });
});
