import { SingleBar, Presets } from 'cli-progress';
import { generateCategories, generateProducts, generateReviews, type DatasetSize } from './dataset.js';
import { bearerHeader } from '../../src/shared/auth.tokens.js';
import { expectJson, forEachConcurrently } from './http.js';

export interface Endpoints {
  catalog: string;
  reviews: string;
  query: string;
  /** A bearer token with `catalog:write` and `reviews:write`, sent with every write. */
  writeToken?: string;
}

export interface SeedResult {
  categoryIds: string[];
  productIds: string[];
  reviews: number;
  /** The consistency token of the last review written: a read that passes it sees every review. */
  lastToken: string | null;
}

/**
 * Writes the dataset through the owners' REST APIs, so every row flows write → outbox → Kafka →
 * projector → view. Idempotency keys derived from the seed make a re-run after a crash safe.
 */
export async function seedThroughApis(
  endpoints: Endpoints,
  size: DatasetSize,
  seed: number,
  options: { concurrency?: number; progress?: boolean } = {},
): Promise<SeedResult> {
  const concurrency = options.concurrency ?? 16;
  const writing = (idempotencyKey: string): Record<string, string> => ({
    'idempotency-key': idempotencyKey,
    ...bearerHeader(endpoints.writeToken),
  });
  const bar = new SingleBar(
    {
      format: ' seeding {phase} [{bar}] {value}/{total} {percentage}% | {rate}/s | ETA {eta}s',
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    Presets.shades_classic,
  );
  const started = Date.now();
  const rate = (done: number) => Math.round(done / Math.max((Date.now() - started) / 1000, 0.001));
  const show = options.progress ?? true;

  const categories = generateCategories(size, seed);
  const categoryIds: string[] = [];
  for (const category of categories) {
    const { body } = await expectJson<{ id: string }>(
      'POST',
      `${endpoints.catalog}/categories`,
      {
        name: category.name,
        description: category.description,
      },
      writing(`seed-${seed}-category-${category.key}`),
    );
    categoryIds[category.key] = body.id;
  }

  const products = generateProducts(size, seed);
  const productIds: string[] = new Array<string>(products.length);
  if (show) bar.start(products.length, 0, { phase: 'products', rate: 0 });
  let done = 0;
  await forEachConcurrently(products, concurrency, async (product) => {
    const { body } = await expectJson<{ id: string }>(
      'POST',
      `${endpoints.catalog}/products`,
      {
        sku: product.sku,
        name: product.name,
        description: product.description,
        categoryId: categoryIds[product.categoryKey],
        price: product.price,
        attributes: product.attributes,
      },
      writing(`seed-${seed}-product-${product.key}`),
    );
    productIds[product.key] = body.id;
    done += 1;
    if (show) bar.update(done, { rate: rate(done) });
  });
  if (show) bar.stop();

  done = 0;
  let lastToken: string | null = null;
  if (show) bar.start(size.reviews, 0, { phase: 'reviews ', rate: 0 });
  const reviewsStarted = Date.now();
  let index = 0;
  const numbered = (function* () {
    for (const review of generateReviews(size, seed)) yield { review, index: index++ };
  })();
  await forEachConcurrently(numbered, concurrency, async ({ review, index: i }) => {
    const productId = productIds[review.productKey];
    const response = await expectJson(
      'POST',
      `${endpoints.reviews}/products/${productId}/reviews`,
      { author: review.author, rating: review.rating, title: review.title, body: review.body },
      writing(`seed-${seed}-review-${i}`),
    );
    lastToken = response.headers.get('locus-consistency-token') ?? lastToken;
    done += 1;
    if (show)
      bar.update(done, { rate: Math.round(done / Math.max((Date.now() - reviewsStarted) / 1000, 0.001)) });
  });
  if (show) bar.stop();
  return { categoryIds, productIds, reviews: size.reviews, lastToken };
}
