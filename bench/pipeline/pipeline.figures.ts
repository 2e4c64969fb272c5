import type { LatencySummary } from '../lib/stats.js';
import { round } from '../lib/stats.js';
import type { ReplicaFreshnessPoller } from './freshness-poller.js';
import type { MetricsPoint } from './metrics-scraper.js';
import type { StepResult } from './pipeline.drive.js';
import { GOAL, type Kind } from './pipeline.settings.js';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(values: number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? NaN),
    mean: round(mean),
  };
}

export const fmt = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined || Number.isNaN(value)
    ? '–'
    : value === Infinity
      ? '∞'
      : value.toFixed(digits);

/** A step's figures: its writes, the freshness of each kind, what the projector did meanwhile. */
export function stepFigures(steps: StepResult[], poller: ReplicaFreshnessPoller, metrics: MetricsPoint[]) {
  const unseen = poller.unseen();
  return steps.map((s) => {
    const of = (kind: Kind) => poller.seen.filter((x) => x.kind === kind && x.step === s.step);
    const points = metrics.filter((p) => p.t >= s.startS && p.t <= s.endS);
    const first = points[0];
    const last = points.at(-1);
    const projectorEventsPerSecond =
      first && last && last.t > first.t
        ? (last.eventsApplied - first.eventsApplied) / (last.t - first.t)
        : NaN;
    return {
      ...s,
      catalogFreshnessMs: summarize(of('catalog').map((x) => x.freshnessMs)),
      catalogToPrimaryMs: summarize(
        of('catalog').flatMap((x) => (x.toPrimaryMs === null ? [] : [x.toPrimaryMs])),
      ),
      reviewFreshnessMs: summarize(of('reviews').map((x) => x.freshnessMs)),
      notVisible: {
        catalog: unseen.filter((w) => w.kind === 'catalog' && w.step === s.step).length,
        reviews: unseen.filter((w) => w.kind === 'reviews' && w.step === s.step).length,
      },
      projectorEventsPerSecond: round(projectorEventsPerSecond),
      projectorLagMax: Math.max(0, ...points.map((p) => p.lag)),
      projectorLagMean: round(points.reduce((a, p) => a + p.lag, 0) / Math.max(1, points.length)),
    };
  });
}

export type StepFigures = ReturnType<typeof stepFigures>[number];

/** Per second of the run: freshness of the writes answered in that second, and the scraped metrics. */
export function perSecond(
  steps: StepResult[],
  poller: ReplicaFreshnessPoller,
  metrics: MetricsPoint[],
  t0: number,
) {
  const lastSecond = Math.ceil(Math.max(...metrics.map((p) => p.t), ...steps.map((s) => s.endS)));
  return Array.from({ length: lastSecond + 1 }, (_, second) => {
    const inSecond = (kind: Kind) =>
      poller.seen
        .filter((x) => x.kind === kind && Math.floor((x.respondedAt - t0) / 1000) === second)
        .map((x) => x.freshnessMs)
        .sort((a, b) => a - b);
    const catalog = inSecond('catalog');
    const reviews = inSecond('reviews');
    const point = metrics.find((p) => Math.round(p.t) === second);
    const previous = metrics.find((p) => Math.round(p.t) === second - 1);
    const step = steps.find((s) => second >= Math.floor(s.startS) && second < Math.ceil(s.endS));
    const p = (values: number[], at: number) => (values.length ? round(percentile(values, at)) : null);
    return {
      second,
      stepRate: step?.catalogRate ?? 0,
      catalogWritesAnswered: catalog.length,
      catalogFreshnessP50Ms: p(catalog, 50),
      catalogFreshnessP99Ms: p(catalog, 99),
      reviewWritesAnswered: reviews.length,
      reviewFreshnessP50Ms: p(reviews, 50),
      reviewFreshnessP99Ms: p(reviews, 99),
      projectorLag: point?.lag ?? null,
      projectorEventsPerSecond:
        point && previous
          ? round((point.eventsApplied - previous.eventsApplied) / (point.t - previous.t))
          : null,
      relayPending: point?.relayPending ?? null,
    };
  });
}

export type SecondFigures = ReturnType<typeof perSecond>[number];

/** The goal's verdict, from the step at the goal's rate (not measured when the run had none). */
export function goalVerdict(perStep: StepFigures[]) {
  const step = perStep.find((s) => s.catalogRate === GOAL.rate);
  if (!step) return { rate: GOAL.rate, measured: false as const };
  return {
    rate: GOAL.rate,
    p50: { goalMs: GOAL.p50Ms, measuredMs: step.catalogFreshnessMs.p50 },
    p99: { goalMs: GOAL.p99Ms, measuredMs: step.catalogFreshnessMs.p99 },
    met:
      step.catalogFreshnessMs.p50 <= GOAL.p50Ms &&
      step.catalogFreshnessMs.p99 <= GOAL.p99Ms &&
      step.notVisible.catalog === 0 &&
      step.catalog.latency.count / (step.endS - step.startS) >= GOAL.rate * 0.95,
  };
}

export type GoalVerdict = ReturnType<typeof goalVerdict>;
