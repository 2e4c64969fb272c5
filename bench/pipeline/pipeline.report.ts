import path from 'node:path';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { writeChartSvg } from '../lib/chart.js';
import { machineDescription, markdownTable, RESULTS_DIR, writeResults } from '../lib/results.js';
import type { LatencySummary } from '../lib/stats.js';
import type { MetricsPoint } from './metrics-scraper.js';
import { chartSpec } from './pipeline.chart.js';
import { fmt, type GoalVerdict, type SecondFigures, type StepFigures } from './pipeline.figures.js';
import { GOAL, type PipelineSettings } from './pipeline.settings.js';
import type { BucketSummary } from './prometheus.js';

/** Everything a run measured: the JSON result file holds it as it is. */
export interface PipelineRun {
  startedAt: Date;
  processesRun: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
  settings: PipelineSettings;
  seedFreshnessMs: LatencySummary;
  replicaPollQueryMs: LatencySummary;
  goal: GoalVerdict;
  steps: StepFigures[];
  perSecond: SecondFigures[];
  metricsSeries: MetricsPoint[];
}

/** Writes pipeline-<time>.json, pipeline-latest.md and pipeline-latest.svg, and prints the markdown. */
export async function writeReport(run: PipelineRun): Promise<void> {
  const stamp = run.startedAt.toISOString().replace(/[:.]/g, '-');
  const { settings: s } = run;
  const result = {
    benchmark: 'pipeline',
    at: run.startedAt.toISOString(),
    machine: machineDescription(),
    processesRun: run.processesRun,
    loadAverageAtStart: run.loadAverageAtStart,
    loadAverageAtEnd: run.loadAverageAtEnd,
    settings: {
      rates: s.rates,
      stepSeconds: s.stepSeconds,
      reviewRate: s.reviewRate,
      products: s.products,
      categories: s.categories,
      pollMs: s.pollMs,
      quick: s.quick,
    },
    seedFreshnessMs: run.seedFreshnessMs,
    replicaPollQueryMs: run.replicaPollQueryMs,
    goal: run.goal,
    steps: run.steps,
    perSecond: run.perSecond,
    metricsSeries: run.metricsSeries,
  };
  const markdown = renderMarkdown(run, stamp);
  const written = await writeResults('pipeline', {
    [`-${stamp}.json`]: `${JSON.stringify(result, null, 2)}\n`,
    '-latest.md': markdown,
  });
  const chart = path.join(RESULTS_DIR, 'pipeline-latest.svg');
  await writeChartSvg(chartSpec(run.perSecond, run.steps), chart);
  console.log('\n' + markdown);
  console.log(`written: ${[...written, path.relative(REPO_ROOT, chart)].join(', ')}`);
}

function renderMarkdown(run: PipelineRun, stamp: string): string {
  const { settings: s, steps } = run;
  return [
    `# Pipeline benchmark: write → replica freshness`,
    '',
    `Run ${run.startedAt.toISOString()}${s.quick ? ' (--quick smoke run)' : ''}. Machine: ${machineDescription()}; load average at start ${run.loadAverageAtStart.join(', ')}, at end ${run.loadAverageAtEnd.map((l) => l.toFixed(2)).join(', ')}.`,
    `All five locus processes (run from ${run.processesRun}), the services (PostgreSQL ×3, FerretDB, Kafka) and this load generator share the machine.`,
    '',
    `Catalog: PATCH /products/{id} (price) on ${s.products} products, open loop, ${s.stepSeconds} s per step. Reviews: POST /products/{id}/reviews at ${s.reviewRate}/s during every step (FerretDB sustains only ~100–200 writes/s here).`,
    `Freshness = first poll of the replica's applied_versions that shows the write's version − write response received (one connection, polled every ${s.pollMs} ms; poll query p50 ${run.replicaPollQueryMs.p50} ms, p99 ${run.replicaPollQueryMs.p99} ms: resolution ≈ poll interval + query time). Write latency counts from the intended send time (coordinated omission corrected). A write due while ${s.maxInFlight.catalog} catalog (${s.maxInFlight.reviews} review) writes are unanswered, or more than ${s.lateSeconds} s after its step's end, is shed: counted, not sent, not in the latencies. ‘of which → projector txn on primary’ = applied_versions.applied_at (start of the projector transaction that applied the write, primary clock, same machine) − write response, for the writes whose exact version the replica showed (n); the rest of the freshness is that transaction, its commit, WAL replay on the replica and polling. ‘projector batches’ = the projector's committed batches during the step and its drain, from its /metrics (events per batch, mean time from fetch to commit).`,
    '',
    goalLine(run.goal),
    '',
    '## Catalog (product price updates)',
    '',
    markdownTable(steps.map(catalogRow)),
    '## Reviews (creates), alongside each catalog step',
    '',
    markdownTable(steps.map(reviewRow)),
    '## Failed writes',
    '',
    ...steps.map(
      (step) =>
        `- catalog step ${step.catalogRate}/s: ${
          Object.entries(step.errors)
            .map(([reason, n]) => `${n} × ${reason}`)
            .join(', ') || 'none'
        }`,
    ),
    '',
    '## CPU (core-seconds per second) during each step',
    '',
    markdownTable(steps.map(cpuRow)),
    'Locus processes, this benchmark, then the services that run on this machine, each as its whole process tree (a PostgreSQL server with all its backends, FerretDB, Kafka’s JVM); 2.00 is both cores.',
    '',
    'Relay commit→ack comes from the relay’s histogram, so p50/p99 are bucket upper bounds. Projector events/s and lag are scraped from its /metrics every second. Raw figures and per-second series: `' +
      `pipeline-${stamp}.json\`; chart: \`pipeline-latest.svg\`.`,
    '',
  ].join('\n');
}

function goalLine(goal: GoalVerdict): string {
  return 'measured' in goal
    ? `Goal at ${GOAL.rate} events/s (catalog step ${GOAL.rate}/s): not measured in this run (no ${GOAL.rate}/s step).`
    : `Goal at ${GOAL.rate} events/s: freshness p50 ≤ ${GOAL.p50Ms} ms (measured ${fmt(goal.p50.measuredMs)} ms), p99 ≤ ${GOAL.p99Ms} ms (measured ${fmt(goal.p99.measuredMs)} ms): **${goal.met ? 'met' : 'NOT met'}**.`;
}

function catalogRow(s: StepFigures) {
  return {
    'catalog writes/s target': s.catalogRate,
    'answered ok/s': fmt(s.catalog.latency.count / (s.endS - s.startS), 0),
    'write ok / failed / shed': `${s.catalog.latency.count} / ${s.catalog.errors - s.notSent.catalog} / ${s.notSent.catalog}`,
    'write p50 / p99 / max ms': `${fmt(s.catalog.latency.p50)} / ${fmt(s.catalog.latency.p99)} / ${fmt(s.catalog.latency.max)}`,
    'freshness p50 / p99 / max ms': `${fmt(s.catalogFreshnessMs.p50)} / ${fmt(s.catalogFreshnessMs.p99)} / ${fmt(s.catalogFreshnessMs.max)}`,
    'of which → projector txn on primary p50 / p99 ms (n)': `${fmt(s.catalogToPrimaryMs.p50)} / ${fmt(s.catalogToPrimaryMs.p99)} (${s.catalogToPrimaryMs.count})`,
    'not visible': s.notVisible.catalog,
    'projector ev/s': fmt(s.projectorEventsPerSecond, 0),
    'projector batches: events each / mean ms': `${fmt(s.projectorBatches.eventsPerBatch)} / ${fmt(s.projectorBatches.meanMs)}`,
    'lag max / mean': `${s.projectorLagMax} / ${fmt(s.projectorLagMean)}`,
    'relay commit→ack (catalog) mean / p50≤ / p99≤ ms': relayCell(s.relayCommitToAck, 'catalog'),
    'drain s': s.drainedS,
  };
}

function reviewRow(s: StepFigures) {
  const reviews = s.reviews;
  return {
    'during catalog step': `${s.catalogRate}/s`,
    'review writes/s target': s.reviewRate,
    'answered ok/s': reviews ? fmt(reviews.latency.count / (s.endS - s.startS), 0) : '–',
    'write ok / failed / shed': reviews
      ? `${reviews.latency.count} / ${reviews.errors - s.notSent.reviews} / ${s.notSent.reviews}`
      : '–',
    'write p50 / p99 / max ms': reviews
      ? `${fmt(reviews.latency.p50)} / ${fmt(reviews.latency.p99)} / ${fmt(reviews.latency.max)}`
      : '–',
    'freshness p50 / p99 / max ms': `${fmt(s.reviewFreshnessMs.p50)} / ${fmt(s.reviewFreshnessMs.p99)} / ${fmt(s.reviewFreshnessMs.max)}`,
    'not visible': s.notVisible.reviews,
    'relay commit→ack (reviews) mean / p50≤ / p99≤ ms': relayCell(
      s.relayCommitToAck,
      Object.keys(s.relayCommitToAck).find((k) => k !== 'catalog') ?? 'reviews',
    ),
  };
}

function cpuRow(s: StepFigures) {
  return {
    'catalog step': `${s.catalogRate}/s`,
    ...Object.fromEntries(Object.entries(s.cpuSecondsPerSecond).map(([k, v]) => [k, fmt(v, 2)])),
    'bench event-loop delay p99 ms': fmt(s.eventLoopDelayP99Ms),
    'load avg (1 min) at step end': fmt(s.loadAverageAtEnd[0], 2),
  };
}

function relayCell(histograms: Record<string, BucketSummary>, source: string): string {
  const h = histograms[source];
  if (!h || h.count === 0) return '–';
  return `${fmt(h.meanMs)} / ${fmt(h.p50AtMostMs, 0)} / ${fmt(h.p99AtMostMs, 0)}`;
}
