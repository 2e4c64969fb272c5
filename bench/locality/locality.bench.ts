/**
 * Locality benchmark (issue 6): does running a heavy query next to the data (a procedure on the read
 * replica) beat pulling the rows into the query service and joining them there (service-join), or
 * through the owners' APIs (composition) — and does `strategy=auto` pick the faster one?
 *
 * In an environment of its own (fresh catalog + read-store databases, a Mongo database, a topic
 * prefix, ports 28080–28084 unless --port-base says otherwise) it starts the real locus processes
 * (catalog, reviews, relay, projector, query) with the ProcessSupervisor, seeds categories and products through the catalog API and the
 * first 10k reviews through the reviews API (the full write path), then grows to 100k reviews by a BULK
 * path through the reviews service's own batched write code (createReviewBatch: same checks, outbox and
 * events), so the relay and the projector carry them as any review and the reviews store holds them
 * too: every strategy, composition included, sees the same data. Past `--store-reviews` (the reviews
 * relay drains FerretDB too slowly for 1M) the same events go straight to Kafka, and composition stops.
 *
 * At each size: top-rated, rating-trend, category-report, rollup (G=100) and export, each strategy
 * interleaved round-robin after a warm-up — latency p50/p99, bytes the query process received from
 * its backends (its /metrics gauge), its CPU time and peak RSS, result rows and bytes, and whether
 * every strategy returned the same body. At the largest size: the result/input ratio sweep (rollup
 * with G = 1 … 1M, the export as ratio 1) with `strategy=auto` beside the two fixed strategies.
 *
 * The three heavy aggregations run by both paths of their procedure side by side: `locality` (auto:
 * the rollups, as the window spans whole days) and `locality:raw` (review_view). At each size the
 * procedures are also measured on the replica itself beside the floor, a bare scan of the same rows
 * (locality.floor.ts).
 *
 * Each size is measured under every network profile (`--network`, bench/lib/network): the query
 * service is restarted behind a link of that profile (its replica, primary, catalog and reviews reached
 * across it), the link self-checked first.
 *
 * Run: `npm run bench:locality -- [--sizes 10k,100k,1m] [--quick] [--network datacenter,region]` (`-- --help` lists every option) or
 * `npx tsx bench/locality/locality.bench.ts …`. Writes bench/results/locality-<time>.json,
 * locality-latest.md and locality-latest.svg.
 */
import os from 'node:os';
import type pg from 'pg';
import type { Broker } from '../../src/messaging/kafka.js';
import { seedThroughApis } from '../../examples/product-catalog/seed.js';
import { createPool } from '../../src/shared/postgres.js';
import { benchToken } from '../lib/auth.js';
import { runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import { startLocus, type RunningLocus } from '../lib/locus-processes.js';
import { machineDescription, writeResults } from '../lib/results.js';
import { describeProfile } from '../lib/network/profiles.js';
import { round } from '../lib/stats.js';
import {
  analyzeAndReplay,
  importReviews,
  replicaCounts,
  waitForViews,
  type Counts,
} from './locality.data.js';
import {
  compare,
  mismatches,
  printRow,
  sweepPoint,
  type QuerySpec,
  type QueryTarget,
} from './locality.measure.js';
import { renderChart } from './locality.chart.js';
import { measureFloor } from './locality.floor.js';
import { goalsByLink, linkTable, renderBandwidthChart, type ProfileResults } from './locality.bandwidth.js';
import { startQueryBehindLink } from './locality.network.js';
import {
  renderMarkdown,
  type BenchResults,
  type Growth,
  type Measured,
  type SweepPoint,
} from './locality.report.js';
import { publishReviewEvents } from './locality.events.js';
import {
  API_REVIEWS,
  CATALOG,
  COMPOSITION_MAX_REVIEWS,
  COMPOSITION_RUNS,
  DEADLINE_MS,
  localitySettings,
  SEED,
  SIZE_NAMES,
  SWEEP_GROUPS,
  type SizeName,
} from './locality.settings.js';

const settings = localitySettings();
const PATH_QUERIES = ['top-rated', 'rating-trend', 'category-report'];
const step = (message: string) => console.log(`\n▸ [${new Date().toISOString().slice(11, 19)}] ${message}`);

const PROCESS_ENV = {
  LOCUS_LOG_LEVEL: 'warn',
  // A service-join over 1M reviews takes seconds: the benchmark measures it instead of timing it out.
  LOCUS_QUERY_DEADLINE_MS: String(DEADLINE_MS),
  LOCUS_QUERY_EXPORT_DEADLINE_MS: String(DEADLINE_MS),
  LOCUS_QUERY_MAX_DEADLINE_MS: String(DEADLINE_MS),
  LOCUS_QUERY_STATEMENT_TIMEOUT_MS: String(DEADLINE_MS),
  // The replica replays the whole shared server, where other work writes heavily: its replay lag
  // reaches tens of seconds. This run writes nothing while it measures and waits for the replica to
  // replay its own writes first (analyzeAndReplay), so the service's freshness bound is lifted.
  LOCUS_MAX_REPLICA_LAG_MS: String(DEADLINE_MS),
  // Composition is off by default (it pages every review out of the reviews service): measured here.
  LOCUS_QUERY_COMPOSITION: 'on',
};

/** What every measuring step needs: the query service, the time window of every request, the results. */
interface Run {
  target: QueryTarget;
  window: string;
  results: BenchResults;
}

async function locality(environment: BenchEnvironment): Promise<void> {
  const startedAt = new Date();
  // One window for every request: the year of bulk reviews before the run, and the API reviews (now).
  const from = new Date(startedAt.getTime() - 366 * 86_400_000).toISOString();
  const to = new Date(startedAt.getTime() + 86_400_000).toISOString();
  const window = `from=${from}&to=${to}`;
  const runs: ProfileResults[] = settings.profiles.map((profile) => ({
    profile,
    linkMeasured: undefined,
    results: emptyResults(startedAt),
  }));
  step('creating databases, a Mongo database and a topic prefix of this run');
  const locus = await startLocus(environment, settings.portBase, PROCESS_ENV);
  const pool = (url: string) => {
    const created = createPool(url, { applicationName: 'bench-locality', max: 2 });
    environment.defer('close a read-store pool', () => created.end());
    return created;
  };
  const primary = pool(locus.readDb.url);
  const replica = pool(locus.readDb.replicaUrl);
  try {
    const productIds = await seedThroughTheApis(locus, replica);
    let reviews = API_REVIEWS;
    for (const sizeName of settings.sizes) {
      const target = SIZE_NAMES[sizeName];
      let growth: Growth | undefined;
      if (target > reviews) {
        growth = await growTo(
          locus,
          environment.broker(),
          replica,
          productIds,
          { from: reviews, to: target },
          startedAt,
        );
        reviews = target;
      }
      await analyzeAndReplay(primary, replica);
      const counts = await replicaCounts(replica);
      step(`the procedures near the floor: raw and rollup paths beside a bare scan, on the replica`);
      const floor = await measureFloor(
        locus.readDb.replicaUrl,
        { from, to },
        { name: sizeName, reviews: counts.reviews },
        target >= 1_000_000 ? 5 : 10,
      );
      for (const run of runs) (run.results.floor ??= []).push(floor);
      // The same data under every profile: only the link between the query service and it changes.
      for (const profileRun of runs) {
        const query = await startQueryBehindLink(environment, locus, profileRun.profile, { selfCheck: true });
        profileRun.linkMeasured ??= query.linkMeasured;
        const run: Run = { target: query.target, window, results: profileRun.results };
        try {
          step(
            `measuring at ${counts.reviews.toLocaleString('en')} reviews, ${counts.products} products, ` +
              `over ${profileRun.profile.name} (${describeProfile(profileRun.profile)})`,
          );
          const measured = await measureSize(run, sizeName);
          run.results.sizes.push({
            size: sizeName,
            reviews: counts.reviews,
            products: counts.products,
            growth,
            measured,
          });
          if (sizeName === settings.sizes.at(-1)) await measureSweep(run, sizeName, counts);
        } finally {
          await query.close();
        }
      }
    }
  } finally {
    await writeReport(runs);
  }
}

function emptyResults(startedAt: Date): BenchResults {
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    machine: machineDescription(),
    loadAverageAtStart: os.loadavg().map((l) => round(l)),
    loadAverageAtEnd: [],
    catalog: CATALOG,
    apiReviews: API_REVIEWS,
    bulkNote:
      "Reviews beyond the first 10,000 are imported through the reviews service's batched write code " +
      '(createReviewBatch: catalog check, outbox entries, events, documents, confirmations), published by the ' +
      `relay and projected like any review, up to ${settings.storeReviews.toLocaleString('en')} reviews, so the ` +
      'reviews store holds what the views hold. Past that the rest are the same review-created events (the ' +
      "service's buildEvent) published to Kafka by the relay's publishBounded. Composition (which pages every " +
      `review out of the reviews API) is measured up to ${COMPOSITION_MAX_REVIEWS.toLocaleString('en')} reviews.`,
    sizes: [],
    sweep: undefined,
    mismatches: [],
  };
}

/** Categories, products and the first reviews through the APIs (the full write path); the product ids. */
async function seedThroughTheApis(locus: RunningLocus, replica: pg.Pool): Promise<string[]> {
  step(
    `seeding ${CATALOG.categories} categories and ${CATALOG.products} products through the catalog API, ` +
      `${API_REVIEWS} reviews through the reviews API (full path: store → outbox → relay → Kafka → projector)`,
  );
  const started = performance.now();
  const endpoints = {
    catalog: locus.url('catalog'),
    reviews: locus.url('reviews'),
    query: locus.url('query'),
    writeToken: benchToken(),
  };
  const seeded = await seedThroughApis(endpoints, { ...CATALOG, reviews: API_REVIEWS }, SEED, {
    concurrency: 16,
  });
  const apiSeconds = (performance.now() - started) / 1000;
  step('waiting for the views to catch up');
  await waitForViews(replica, { reviews: API_REVIEWS, products: CATALOG.products });
  console.log(`  API seeding: ${round(API_REVIEWS / apiSeconds)} reviews/s end to end (incl. products)`);
  return seeded.productIds;
}

/**
 * Grows the reviews from `range.from` to `range.to` and waits for the views: through the reviews
 * store's batched write path up to `--store-reviews`, past it as events published to Kafka.
 */
async function growTo(
  locus: RunningLocus,
  broker: Broker,
  replica: pg.Pool,
  productIds: string[],
  range: { from: number; to: number },
  now: Date,
): Promise<Growth> {
  const growth: Growth = { projectSeconds: 0 };
  const storeTo = Math.min(range.to, Math.max(range.from, settings.storeReviews));
  if (storeTo > range.from) {
    step(`growing to ${storeTo.toLocaleString('en')} reviews by the reviews service's batched write path`);
    const target = { mongo: locus.mongo, catalogUrl: locus.url('catalog') };
    growth.importRate = Math.round(await importReviews(target, productIds, range.from, storeTo, now));
  }
  if (range.to > storeTo) {
    step(
      `growing to ${range.to.toLocaleString('en')} reviews by review-created events straight to Kafka ` +
        `(the reviews store keeps ${storeTo.toLocaleString('en')})`,
    );
    const rate = await publishReviewEvents(
      broker,
      locus.topics.reviews,
      productIds,
      { from: storeTo, to: range.to },
      now,
    );
    growth.publishRate = Math.round(rate);
  }
  step('waiting for the relay and the projector to build the views');
  const projectSeconds = await waitForViews(replica, { reviews: range.to, products: CATALOG.products });
  return { ...growth, projectSeconds: round(projectSeconds) };
}

/** The five queries at one size and their repetitions (fewer as the data grows). */
function queriesAt(reviews: number, window: string): (QuerySpec & { reps: number; warmUp: boolean })[] {
  const reps = reviews <= 10_000 ? 8 : reviews <= 100_000 ? 5 : 3;
  const exportReps = reviews <= 10_000 ? 4 : 2;
  return [
    { name: 'top-rated', path: `/analytics/top-rated?${window}&minReviews=5&limit=10`, reps, warmUp: true },
    { name: 'rating-trend', path: `/analytics/rating-trend?${window}&bucket=week`, reps, warmUp: true },
    { name: 'category-report', path: `/analytics/category-report?${window}`, reps, warmUp: true },
    { name: 'rollup G=100', path: `/analytics/rollup?${window}&groups=100`, reps, warmUp: true },
    // At 1M one export is tens of seconds per strategy: the capped single run is its own warm-up.
    {
      name: 'export',
      path: `/analytics/export?${window}`,
      ndjson: true,
      reps: exportReps,
      warmUp: reviews <= 100_000,
    },
  ];
}

async function measureSize(run: Run, sizeName: SizeName): Promise<Measured[]> {
  const reviews = SIZE_NAMES[sizeName];
  const strategiesOf = (query: string) =>
    reviews <= Math.min(settings.storeReviews, COMPOSITION_MAX_REVIEWS) &&
    settings.compositionQueries.includes(query)
      ? ['locality', 'service-join', 'composition']
      : ['locality', 'service-join'];
  // The aggregations whose procedure has a rollup path: `locality` takes it (auto), `locality:raw` not.
  const withPaths = (query: string) =>
    PATH_QUERIES.includes(query) ? ['locality:raw', ...strategiesOf(query)] : strategiesOf(query);
  const caps: Partial<Record<string, number>> = { composition: COMPOSITION_RUNS };
  const measured: Measured[] = [];
  for (const query of queriesAt(reviews, run.window)) {
    const label = `${sizeName} ${query.name}`;
    const got = await compare(
      run.target,
      query,
      withPaths(query.name),
      query.reps,
      query.warmUp,
      label,
      caps,
    );
    measured.push(...got);
    run.results.mismatches.push(...mismatches(got).map((m) => `${sizeName} ${m}`));
    printRow(got);
  }
  return measured;
}

/** At the largest size: rollup G = 1 … N and the export as ratio 1, auto beside the fixed strategies. */
async function measureSweep(run: Run, sizeName: SizeName, counts: Counts): Promise<void> {
  step(`ratio sweep at ${counts.reviews.toLocaleString('en')} reviews: rollup G = 1 … N, export as ratio 1`);
  const strategies = ['locality', 'service-join', 'auto'];
  const sweep: SweepPoint[] = [];
  // auto is judged against the faster side within 10%: locality and auto, cheap where locality wins,
  // get runs enough for a steady p50; service-join, seconds a run at 1M, is capped.
  const large = SIZE_NAMES[sizeName] >= 1_000_000;
  const sweepReps = large ? 4 : 3;
  const caps = large ? { 'service-join': 2 } : {};
  for (const groups of SWEEP_GROUPS.filter((g) => g <= counts.reviews)) {
    const name = `rollup G=${groups}`;
    const spec = { name, path: `/analytics/rollup?${run.window}&groups=${groups}` };
    const got = await compare(run.target, spec, strategies, sweepReps, groups === 1, `sweep ${name}`, caps);
    run.results.mismatches.push(...mismatches(got).map((m) => `sweep ${m}`));
    printRow(got);
    sweep.push(sweepPoint(name, groups, counts.reviews, got));
  }
  // The export as ratio 1, the negative control of auto: all three interleaved, so auto is
  // compared with runs made under the same load.
  const exportReps = SIZE_NAMES[sizeName] <= 10_000 ? 4 : 2;
  const spec = { name: 'export', path: `/analytics/export?${run.window}`, ndjson: true };
  const exports = await compare(run.target, spec, strategies, exportReps, false, 'sweep export');
  run.results.mismatches.push(...mismatches(exports).map((m) => `sweep ${m}`));
  printRow(exports);
  sweep.push(sweepPoint('export', null, counts.reviews, exports));
  run.results.sweep = { size: sizeName, reviews: counts.reviews, points: sweep };
}

/**
 * Per profile: locality[-<profile>]-<time>.json, -latest.md and, with a sweep, -latest.svg (loopback
 * keeps the names it always had); then locality-network-latest.md with the links as measured and the
 * speed-up against bandwidth chart, once any profile was measured.
 */
async function writeReport(runs: ProfileResults[]): Promise<void> {
  const written: string[] = [];
  for (const { profile, results } of runs) {
    results.finishedAt = new Date().toISOString();
    results.loadAverageAtEnd = os.loadavg().map((l) => round(l));
    if (results.sizes.length === 0) continue;
    const name = profile.name === 'loopback' ? 'locality' : `locality-${profile.name}`;
    const fileStamp = results.startedAt.replace(/[:.]/g, '-');
    const markdown = renderMarkdown(results, { profile: profile.name, chart: `${name}-latest.svg` });
    written.push(
      ...(await writeResults(name, {
        [`-${fileStamp}.json`]: `${JSON.stringify({ network: profile, ...results }, null, 2)}\n`,
        '-latest.md': `# Over ${profile.name}: ${describeProfile(profile)}\n\n${markdown}`,
      })),
    );
    if (results.sweep) written.push(await renderChart(results, name));
    if (results.mismatches.length > 0)
      console.log(`  ${profile.name} MISMATCHES:\n  ${results.mismatches.join('\n  ')}`);
    console.log(`\n${profile.name}:${markdown.split('## Goals')[1] ?? ''}`);
  }
  const measured = runs.filter((run) => run.results.sizes.length > 0);
  if (measured.length === 0) return;
  const largest = measured[0]!.results.sizes.at(-1)!;
  written.push(
    ...(await writeResults('locality-network', {
      '-latest.md':
        `# Locality across links at ${largest.reviews.toLocaleString('en')} reviews\n\n` +
        `The links as their self-check measured them (100 MB each way, median of 50 round trips):\n\n` +
        `${linkTable(measured)}\n\nThe goals per link (issue 17), at that size:\n\n${goalsByLink(measured)}\n\n` +
        `![speed-up against bandwidth](locality-bandwidth-latest.svg)\n`,
    })),
  );
  written.push(await renderBandwidthChart(measured, largest.reviews));
  step(`wrote ${written.join(', ')}`);
}

await runBenchmark('locality', locality);
