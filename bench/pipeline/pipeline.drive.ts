import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { runOpenLoop, type OpenLoopResult } from '../lib/open-loop.js';
import { treeCpuSecondsOf } from '../lib/process-sampler.js';
import { round } from '../lib/stats.js';
import { now } from './freshness-poller.js';
import type { CumulativeMetrics, MetricsScraper } from './metrics-scraper.js';
import { summarize } from './pipeline.figures.js';
import type { Kind } from './pipeline.settings.js';
import { ErrorCounts, stepWriters, type WriteTargets } from './pipeline.writes.js';
import { histogramDelta, type BucketSummary } from './prometheus.js';

export interface StepResult {
  step: number;
  catalogRate: number;
  reviewRate: number;
  startS: number;
  endS: number;
  catalog: OpenLoopResult;
  reviews: OpenLoopResult | null;
  errors: Record<string, number>;
  /** Writes shed: due while too many were unanswered, or `lateSeconds` after the step's end. */
  notSent: Record<Kind, number>;
  loadAverageAtEnd: number[];
  relayCommitToAck: Record<string, BucketSummary>;
  /** The projector's committed batches in the step: how many, events per batch, mean duration. */
  projectorBatches: { count: number; eventsPerBatch: number; meanMs: number };
  eventLoopDelayP99Ms: number;
  cpuSecondsPerSecond: Record<string, number>;
  drainedS: number;
}

export interface DriveContext extends Omit<WriteTargets, 'errors'> {
  scraper: MetricsScraper;
  /** Processes whose CPU each step reports: locus's (the first `locusCount`), then the services. */
  measured: [string, number][];
  locusCount: number;
}

/** Runs every rate step in turn, each followed by its drain; the results in step order. */
export async function driveSteps(context: DriveContext): Promise<StepResult[]> {
  const steps: StepResult[] = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  const errors = new ErrorCounts();
  const { rates, reviewRate, stepSeconds } = context.settings;
  for (const [index, rate] of rates.entries()) {
    console.log(
      `\n▸ step ${index + 1}/${rates.length}: catalog ${rate} writes/s + reviews ${reviewRate} writes/s for ${stepSeconds} s`,
    );
    const result = await runStep(context, errors, loopDelay, index, rate);
    steps.push(result);
    logStep(context, result);
  }
  return steps;
}

async function runStep(
  context: DriveContext,
  errors: ErrorCounts,
  loopDelay: IntervalHistogram,
  index: number,
  rate: number,
): Promise<StepResult> {
  const { settings, scraper, poller } = context;
  const before = await scraper.cumulative();
  const cpu = startCpuMeter(context.measured, context.locusCount);
  loopDelay.reset();
  loopDelay.enable();
  const startS = (now() - scraper.t0) / 1000;
  const sent = { catalog: 0, reviews: 0 };
  const progress = setInterval(() => logProgress(context, sent), 2_000);
  const writers = stepWriters({ ...context, errors }, index);
  const [catalog, reviews] = await Promise.all([
    runOpenLoop(rate, settings.stepSeconds * 1000, (i) => writers.patch(i), {
      onProgress: (n) => (sent.catalog = n),
      maxInFlight: 1_000_000,
    }),
    settings.reviewRate > 0
      ? runOpenLoop(settings.reviewRate, settings.stepSeconds * 1000, (i) => writers.review(i), {
          onProgress: (n) => (sent.reviews = n),
          maxInFlight: 1_000_000,
        })
      : Promise.resolve(null),
  ]);
  const endS = (now() - scraper.t0) / 1000;
  loopDelay.disable();
  const cpuSecondsPerSecond = cpu.perSecond(endS - startS);
  // Let the pipeline drain so the next step starts clean; freshness keeps counting meanwhile.
  const drainDeadline = now() + settings.drainSeconds * 1000;
  while (poller.pending > 0 && now() < drainDeadline) await sleep(20);
  const drainedS = round((now() - scraper.t0) / 1000 - endS);
  clearInterval(progress);
  const after = await scraper.cumulative();
  return {
    step: index,
    catalogRate: rate,
    reviewRate: settings.reviewRate,
    startS: round(startS),
    endS: round(endS),
    catalog,
    reviews,
    errors: errors.of(index),
    notSent: writers.notSent,
    loadAverageAtEnd: os.loadavg().map((l) => round(l)),
    relayCommitToAck: histogramDelta(before.commitToAck, after.commitToAck),
    projectorBatches: batchesBetween(before, after),
    eventLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6),
    cpuSecondsPerSecond,
    drainedS,
  };
}

/**
 * CPU seconds per second of the step: locus's processes, this benchmark, then the services (whole
 * process trees), in the report's column order, so it shows where the cores went.
 */
function startCpuMeter(measured: [string, number][], locusCount: number) {
  const before = Object.fromEntries(measured.map(([n, pid]) => [n, treeCpuSecondsOf(pid)]));
  const selfBefore = process.cpuUsage();
  return {
    perSecond(seconds: number): Record<string, number> {
      const used = ([n, pid]: [string, number]) =>
        [n, round((treeCpuSecondsOf(pid) - before[n]!) / seconds)] as const;
      const self = process.cpuUsage(selfBefore);
      return Object.fromEntries([
        ...measured.slice(0, locusCount).map(used),
        ['benchmark', round((self.user + self.system) / 1e6 / seconds)] as const,
        ...measured.slice(locusCount).map(used),
      ]);
    },
  };
}

function batchesBetween(before: CumulativeMetrics, after: CumulativeMetrics) {
  const count = after.batches.count - before.batches.count;
  return {
    count,
    eventsPerBatch: count ? round((after.batches.events - before.batches.events) / count) : NaN,
    meanMs: count ? round(((after.batches.seconds - before.batches.seconds) / count) * 1000) : NaN,
  };
}

function logProgress(context: DriveContext, sent: Record<Kind, number>): void {
  const { series, t0 } = context.scraper;
  const last = series.at(-1);
  const recent = series.at(-2);
  const applied = last && recent ? (last.eventsApplied - recent.eventsApplied) / (last.t - recent.t) : 0;
  console.log(
    `  t=${((now() - t0) / 1000).toFixed(0)}s sent catalog ${sent.catalog} reviews ${sent.reviews} | awaiting replica ${context.poller.pending} | projector ${applied.toFixed(0)} ev/s, lag ${last?.lag ?? '?'} | relay pending ${last?.relayPending ?? '?'}`,
  );
}

function logStep(context: DriveContext, s: StepResult): void {
  const { poller } = context;
  const { catalog, reviews, notSent } = s;
  const fresh = summarize(
    poller.seen.filter((x) => x.kind === 'catalog' && x.step === s.step).map((x) => x.freshnessMs),
  );
  console.log(
    `  done: catalog ${catalog.latency.count} ok (${(catalog.latency.count / (s.endS - s.startS)).toFixed(0)}/s), ${catalog.errors - notSent.catalog} failed, ${notSent.catalog} shed; reviews ${reviews?.latency.count ?? 0} ok, ${(reviews?.errors ?? 0) - notSent.reviews} failed, ${notSent.reviews} shed; catalog, write p50 ${catalog.latency.p50} p99 ${catalog.latency.p99} ms; freshness p50 ${fresh.p50} p99 ${fresh.p99} max ${fresh.max} ms; drained ${s.drainedS} s after the step${poller.pending ? `, ${poller.pending} STILL NOT VISIBLE` : ''}`,
  );
}
