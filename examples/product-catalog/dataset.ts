/**
 * A deterministic product catalog: the same seed always gives the same categories, products and
 * reviews. Popularity is skewed (Zipf-like: a few products get most reviews), ratings follow the
 * J-shape real review sites show (many 5s, then 4s, some 1s), and text lengths vary.
 */
import { seededRandom } from '../../testkit/random.js';

export interface DatasetSize {
  categories: number;
  products: number;
  reviews: number;
}

export const SIZES = {
  small: { categories: 8, products: 200, reviews: 2_000 },
  medium: { categories: 20, products: 2_000, reviews: 100_000 },
  large: { categories: 40, products: 20_000, reviews: 1_000_000 },
} as const satisfies Record<string, DatasetSize>;

export type SizeName = keyof typeof SIZES;

export interface CategoryInput {
  key: number;
  name: string;
  description: string;
}

export interface ProductInput {
  key: number;
  categoryKey: number;
  sku: string;
  name: string;
  description: string;
  price: { amount: number; currency: string };
  attributes: Record<string, string | number | boolean>;
}

export interface ReviewInput {
  productKey: number;
  author: string;
  rating: number;
  title: string;
  body: string;
}

const CATEGORY_NAMES = [
  'Headphones',
  'Laptops',
  'Coffee',
  'Running Shoes',
  'Board Games',
  'Cookware',
  'Cameras',
  'Desks',
  'Backpacks',
  'Monitors',
  'Keyboards',
  'Tents',
  'Bicycles',
  'Watches',
  'Speakers',
  'Blenders',
  'Chairs',
  'Lamps',
  'Jackets',
  'Phones',
];
const ADJECTIVES = ['Compact', 'Pro', 'Classic', 'Ultra', 'Eco', 'Studio', 'Trail', 'Smart', 'Mini', 'Max'];
const WORDS = [
  'solid',
  'build',
  'quality',
  'battery',
  'comfortable',
  'value',
  'shipping',
  'sturdy',
  'light',
  'design',
  'sound',
  'works',
  'great',
  'broke',
  'after',
  'week',
  'returned',
  'recommend',
  'price',
  'daily',
  'use',
  'excellent',
  'cheap',
  'feels',
  'premium',
  'noisy',
  'quiet',
  'fast',
  'slow',
  'easy',
  'setup',
];
const AUTHORS = ['ana', 'bo', 'chen', 'dita', 'eli', 'femi', 'gus', 'hana', 'ivo', 'jun', 'kai', 'lea', 'mo'];
/** Cumulative probability of ratings 1..5: the J-shaped distribution of online reviews. */
const RATING_CDF = [0.1, 0.15, 0.25, 0.47, 1];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)] as T;
}

function sentence(random: () => number, minWords: number, maxWords: number): string {
  const count = minWords + Math.floor(random() * (maxWords - minWords + 1));
  const words = Array.from({ length: count }, () => pick(random, WORDS));
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function rating(random: () => number): number {
  const r = random();
  return RATING_CDF.findIndex((bound) => r < bound) + 1;
}

export function generateCategories(size: DatasetSize, seed: number): CategoryInput[] {
  const random = seededRandom(seed);
  return Array.from({ length: size.categories }, (_, key) => ({
    key,
    name: CATEGORY_NAMES[key % CATEGORY_NAMES.length]! + (key >= CATEGORY_NAMES.length ? ` ${key}` : ''),
    description: sentence(random, 4, 10),
  }));
}

export function generateProducts(size: DatasetSize, seed: number): ProductInput[] {
  const random = seededRandom(seed + 1);
  return Array.from({ length: size.products }, (_, key) => {
    const categoryKey = Math.floor(random() * size.categories);
    const category = CATEGORY_NAMES[categoryKey % CATEGORY_NAMES.length]!;
    return {
      key,
      categoryKey,
      sku: `SKU-${seed}-${String(key).padStart(7, '0')}`,
      name: `${pick(random, ADJECTIVES)} ${category.replace(/s$/, '')} ${100 + key}`,
      description: sentence(random, 8, 30),
      // Log-uniform prices between 5 and 2,000 in cents: many cheap items, a few expensive ones.
      price: { amount: Math.round(500 * Math.pow(400, random())), currency: 'EUR' },
      attributes: {
        color: pick(random, ['black', 'white', 'red', 'blue']),
        warrantyYears: 1 + Math.floor(random() * 3),
      },
    };
  });
}

/**
 * Zipf-like popularity: product k (by a seeded shuffle) has weight 1/(k+1)^s. Returns a sampler of
 * product keys using a precomputed cumulative table and binary search.
 */
export function popularitySampler(products: number, random: () => number, exponent = 1.05): () => number {
  const order = Array.from({ length: products }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const cumulative = new Float64Array(products);
  let total = 0;
  for (let rank = 0; rank < products; rank++) {
    total += 1 / Math.pow(rank + 1, exponent);
    cumulative[rank] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = products - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (cumulative[mid]! < target) low = mid + 1;
      else high = mid;
    }
    return order[low]!;
  };
}

/** Reviews in a stable order; a generator so a million of them never sit in memory at once. */
export function* generateReviews(size: DatasetSize, seed: number): Generator<ReviewInput> {
  const random = seededRandom(seed + 2);
  const nextProduct = popularitySampler(size.products, random);
  for (let i = 0; i < size.reviews; i++) {
    const stars = rating(random);
    yield {
      productKey: nextProduct(),
      author: `${pick(random, AUTHORS)}${Math.floor(random() * 10_000)}`,
      rating: stars,
      title: sentence(random, 2, 6),
      // Body length: mostly short, sometimes long, like real reviews.
      body: sentence(random, 5, random() < 0.8 ? 25 : 120),
    };
  }
}
