import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpClient } from '../lib/http-client.js';
import type { LatencySummary } from '../lib/stats.js';
import { now, type ReplicaFreshnessPoller } from './freshness-poller.js';
import { summarize } from './pipeline.figures.js';
import type { PipelineSettings } from './pipeline.settings.js';

export interface SeededCatalog {
  productIds: string[];
  /** Each product's current price amount: the steps reprice them. */
  prices: number[];
  /** How long the seed's writes took to show on the replica. */
  freshness: LatencySummary;
}

/**
 * Seeds the categories and products through the catalog API, waits until the replica shows all of
 * them, then clears the poller's figures so the steps start from nothing.
 * @throws Error when a write fails or the seed is not visible within two minutes.
 */
export async function seedCatalog(
  client: HttpClient,
  catalogUrl: string,
  poller: ReplicaFreshnessPoller,
  settings: PipelineSettings,
): Promise<SeededCatalog> {
  console.log(
    `▸ seeding ${settings.categories} categories and ${settings.products} products through the catalog API`,
  );
  const categoryIds: string[] = [];
  for (let i = 0; i < settings.categories; i++) {
    const answer = await client.sendOk('POST', `${catalogUrl}/categories`, {
      name: `Bench category ${i}`,
      description: 'made by the pipeline benchmark',
    });
    categoryIds.push((JSON.parse(answer.body) as { id: string }).id);
    poller.add(answer.token!, 'catalog', -1, now());
  }
  const productIds: string[] = [];
  const prices: number[] = [];
  const createProduct = async (i: number) => {
    const answer = await client.sendOk('POST', `${catalogUrl}/products`, {
      sku: `PIPE-${i}`,
      name: `Pipeline kettle ${i}`,
      description: 'a product the pipeline benchmark reprices',
      categoryId: categoryIds[i % settings.categories],
      price: { amount: 1000 + i, currency: 'EUR' },
      attributes: { colour: 'red' },
    });
    productIds[i] = (JSON.parse(answer.body) as { id: string }).id;
    prices[i] = 1000 + i;
    poller.add(answer.token!, 'catalog', -1, now());
  };
  for (let start = 0; start < settings.products; start += 16) {
    const batch = Array.from({ length: Math.min(16, settings.products - start) }, (_, k) => start + k);
    await Promise.all(batch.map(createProduct));
  }
  const freshness = await waitUntilVisible(poller);
  console.log(`  seed visible on the replica (freshness p50 ${freshness.p50} ms)`);
  poller.seen.length = 0;
  poller.pollDurations.length = 0;
  return { productIds, prices, freshness };
}

async function waitUntilVisible(poller: ReplicaFreshnessPoller): Promise<LatencySummary> {
  const deadline = now() + 120_000;
  while (poller.pending > 0) {
    if (now() > deadline) throw new Error(`seed not visible on the replica: ${poller.pending} left`);
    await sleep(50);
  }
  return summarize(poller.seen.map((s) => s.freshnessMs));
}
