import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../shared/config.js';
import { createPool } from '../shared/postgres.js';
import { readCatalog, readReviews } from './source-snapshot.js';
import { reconcileViews, type ViewDifference } from './view-reconciler.js';

export interface VerifyReport {
  differences: ViewDifference[];
  counts: { categories: number; products: number; reviews: number };
}

/**
 * Reads the sources (catalog store, reviews store) and compares every view in the read store with
 * them. An operator tool: it reads the stores directly, read-only, so it also works while the services
 * are down — after a crash, which is when it is needed.
 */
export async function verifyViews(urls: {
  catalog: string;
  mongo: string;
  readPrimary: string;
}): Promise<VerifyReport> {
  const catalogPool = createPool(urls.catalog, { applicationName: 'locus-verify', max: 1 });
  const readPool = createPool(urls.readPrimary, { applicationName: 'locus-verify', max: 1 });
  const mongo = new MongoClient(urls.mongo);
  try {
    const [{ categories, products }, reviews] = await Promise.all([
      readCatalog(catalogPool),
      readReviews(mongo.db()),
    ]);
    const differences = await reconcileViews(readPool, { categories, products, reviews });
    return {
      differences,
      counts: { categories: categories.length, products: products.length, reviews: reviews.length },
    };
  } finally {
    await Promise.allSettled([catalogPool.end(), readPool.end(), mongo.close()]);
  }
}

/**
 * `locus verify [--wait SECONDS]`: zero differences exits 0; otherwise lists them and exits 1. With
 * `--wait`, checks again until the views have caught up or the time is up (the pipeline is async).
 */
export async function main(args: string[] = []): Promise<void> {
  const { values } = parseArgs({ args, options: { wait: { type: 'string', default: '0' } } });
  const waitMs = Number(values.wait) * 1000;
  const config = loadConfig(['LOCUS_CATALOG_DB_URL', 'LOCUS_MONGO_URL', 'LOCUS_READ_DB_URL']);
  const urls = {
    catalog: config.LOCUS_CATALOG_DB_URL,
    mongo: config.LOCUS_MONGO_URL,
    readPrimary: config.LOCUS_READ_DB_URL,
  };
  const deadline = Date.now() + waitMs;
  let report = await verifyViews(urls);
  while (report.differences.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    report = await verifyViews(urls);
  }
  const { counts, differences } = report;
  console.log(
    `sources: ${counts.categories} categories, ${counts.products} products, ${counts.reviews} live reviews`,
  );
  if (differences.length === 0) {
    console.log('verify: 0 differences — every view matches its sources');
    return;
  }
  const byView = new Map<string, ViewDifference[]>();
  for (const difference of differences)
    byView.set(difference.view, [...(byView.get(difference.view) ?? []), difference]);
  for (const [view, list] of byView) {
    console.log(`${view}: ${list.length} difference${list.length === 1 ? '' : 's'}`);
    for (const { id, kind } of list.slice(0, 20)) console.log(`  ${kind.padEnd(10)} ${id}`);
    if (list.length > 20) console.log(`  … ${list.length - 20} more`);
  }
  console.log(`verify: ${differences.length} differences`);
  process.exitCode = 1;
}
