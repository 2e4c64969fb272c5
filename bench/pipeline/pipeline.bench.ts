/**
 * Pipeline benchmark (not a test): end-to-end freshness of the whole write → outbox → relay → Kafka →
 * projector → read primary → streaming replica path, with the real locus processes.
 *
 * In an environment of its own (fresh catalog and read-store databases, its own reviews database,
 * topic prefix, consumer group and ports 38080–38084) it starts catalog, reviews, relay, projector
 * and query with the ProcessSupervisor, seeds a few categories and products, then drives writes OPEN
 * LOOP (latency from the intended send time) in rate steps:
 *   - product price updates (PATCH /products/{id}) through the catalog service, at each step's rate;
 *   - review creates (POST /products/{id}/reviews) through the reviews service at a modest fixed rate
 *     (its FerretDB store sustains only ~100–200 writes/s here), reported separately.
 * Each write answers `Locus-Consistency-Token: <type>:<id>:<version>`; one connection to the REPLICA
 * polls `applied_versions` for every outstanding token (`= ANY($1)`, every few ms) and notes when
 * each version becomes visible. Freshness = visible on the replica − write response received.
 * Every second it also scrapes the projector's and the relay's /metrics (events applied, lag,
 * commit → ack histogram).
 *
 * Goal (projector issue): at 1,000 events/s, freshness p50 ≤ 30 ms and p99 ≤ 150 ms.
 *
 * Run: `npm run bench:pipeline -- [--rates 100,500,1000] [--seconds 30] [--review-rate 50] [--quick]`
 * or `npx tsx bench/pipeline/pipeline.bench.ts …` (services up; LOCUS_* set or ~/.locus/env).
 * Writes bench/results/pipeline-<time>.json, pipeline-latest.md and pipeline-latest.svg. `locus bench pipeline -- --help` lists every option.
 */
import os from 'node:os';
import pg from 'pg';
import { compileLocus } from '../lib/compiled.js';
import { LOCUS_PROCESSES, runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import { HttpClient } from '../lib/http-client.js';
import { startLocus } from '../lib/locus-processes.js';
import { localServicePids } from '../lib/process-sampler.js';
import { machineDescription } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { now, ReplicaFreshnessPoller } from './freshness-poller.js';
import { MetricsScraper } from './metrics-scraper.js';
import { driveSteps } from './pipeline.drive.js';
import { goalVerdict, perSecond, stepFigures, summarize } from './pipeline.figures.js';
import { writeReport } from './pipeline.report.js';
import { seedCatalog } from './pipeline.seed.js';
import { pipelineSettings, type PipelineSettings } from './pipeline.settings.js';

const settings = pipelineSettings();

async function pipeline(environment: BenchEnvironment, s: PipelineSettings): Promise<void> {
  const startedAt = new Date();
  const processesRun = compileLocus();
  const loadAverageAtStart = os.loadavg().map((l) => round(l));
  console.log(`▸ machine: ${machineDescription()}; load average ${loadAverageAtStart.join(', ')}`);
  console.log(
    `▸ plan: catalog ${s.rates.join(', ')} writes/s × ${s.stepSeconds} s, reviews ${s.reviewRate} writes/s alongside; replica polled every ${s.pollMs} ms`,
  );
  const locus = await startLocus(environment, s.portBase);
  // What each step costs: locus's processes, then the services (whole process trees) when they run
  // on this machine, so the report shows where the two cores went.
  const measured: [string, number][] = [
    ...LOCUS_PROCESSES.map((name): [string, number] => [name, locus.pid(name)]),
    ...Object.entries(localServicePids()),
  ];
  const client = new HttpClient(512);
  environment.defer('close the HTTP client', async () => client.destroy());
  const poller = await followReplica(environment, locus.readDb.replicaUrl, s.pollMs);

  // ── seed ──
  const seeded = await seedCatalog(client, locus.url('catalog'), poller, s);

  // ── drive ──
  const scraper = new MetricsScraper(locus.url('projector'), locus.url('relay'), now());
  scraper.start();
  environment.defer('stop scraping', async () => scraper.stop());
  const steps = await driveSteps({
    settings: s,
    client,
    catalogUrl: locus.url('catalog'),
    reviewsUrl: locus.url('reviews'),
    poller,
    seeded,
    scraper,
    measured,
    locusCount: LOCUS_PROCESSES.length,
  });
  scraper.stop();
  await poller.stop();

  // ── report ──
  const perStep = stepFigures(steps, poller, scraper.series);
  await writeReport({
    startedAt,
    processesRun,
    loadAverageAtStart,
    loadAverageAtEnd: os.loadavg(),
    settings: s,
    seedFreshnessMs: seeded.freshness,
    replicaPollQueryMs: summarize(poller.pollDurations),
    goal: goalVerdict(perStep),
    steps: perStep,
    perSecond: perSecond(steps, poller, scraper.series, scraper.t0),
    metricsSeries: scraper.series,
  });
}

/** One connection to the replica that follows every write's token until it is visible there. */
async function followReplica(
  environment: BenchEnvironment,
  replicaUrl: string,
  pollMs: number,
): Promise<ReplicaFreshnessPoller> {
  const replica = new pg.Client({ connectionString: replicaUrl, application_name: 'locus-bench-poller' });
  await replica.connect();
  environment.defer('close the replica connection', () => replica.end());
  const poller = new ReplicaFreshnessPoller(replica, pollMs);
  poller.start();
  environment.defer('stop the replica poller', () => poller.stop());
  return poller;
}

await runBenchmark('pipeline', (environment) => pipeline(environment, settings));
