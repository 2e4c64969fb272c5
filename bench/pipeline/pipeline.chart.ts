import type { TopLevelSpec } from 'vega-lite';
import type { SecondFigures } from './pipeline.figures.js';
import { GOAL } from './pipeline.settings.js';

type StepSpan = { catalogRate: number; reviewRate: number; startS: number; endS: number };
type StepBand = { start: number; end: number; label: string };

const WIDTH = 760;
const X_TITLE = 'seconds since the first step';

/** The chart: freshness per second (log scale, goal lines) over projector lag, steps shaded. */
export function chartSpec(series: SecondFigures[], steps: StepSpan[]): TopLevelSpec {
  const bands = steps.map((s) => ({
    start: s.startS,
    end: s.endS,
    label: `${s.catalogRate}/s (+${s.reviewRate} reviews/s)`,
  }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'locus pipeline: catalog write → visible on the replica (shaded: catalog write-rate steps)',
    vconcat: [freshnessPanel(series, bands), lagPanel(series, bands)],
  };
}

function freshnessPanel(series: SecondFigures[], bands: StepBand[]) {
  const freshness = series.flatMap((p) => [
    ...(p.catalogFreshnessP50Ms === null
      ? []
      : [{ second: p.second, ms: Math.max(0.1, p.catalogFreshnessP50Ms), series: 'freshness p50' }]),
    ...(p.catalogFreshnessP99Ms === null
      ? []
      : [{ second: p.second, ms: Math.max(0.1, p.catalogFreshnessP99Ms), series: 'freshness p99' }]),
  ]);
  return {
    width: WIDTH,
    height: 260,
    layer: [
      ...stepLayers(bands, true),
      {
        data: {
          values: [
            { ms: GOAL.p50Ms, goal: 'goal p50' },
            { ms: GOAL.p99Ms, goal: 'goal p99' },
          ],
        },
        mark: { type: 'rule' as const, strokeDash: [4, 4], color: '#888' },
        encoding: { y: { field: 'ms', type: 'quantitative' as const } },
      },
      {
        data: { values: freshness },
        mark: { type: 'line' as const, point: { size: 12 } },
        encoding: {
          x: { field: 'second', type: 'quantitative' as const, title: X_TITLE },
          y: {
            field: 'ms',
            type: 'quantitative' as const,
            scale: { type: 'log' as const },
            title: 'freshness per second (ms, log)',
          },
          color: { field: 'series', type: 'nominal' as const, title: null },
        },
      },
    ],
  };
}

function lagPanel(series: SecondFigures[], bands: StepBand[]) {
  const lag = series
    .filter((p) => p.projectorLag !== null)
    .map((p) => ({ second: p.second, lag: p.projectorLag }));
  return {
    width: WIDTH,
    height: 140,
    layer: [
      ...stepLayers(bands, false),
      {
        data: { values: lag },
        mark: { type: 'area' as const, line: true, opacity: 0.4, color: '#e45756' },
        encoding: {
          x: { field: 'second', type: 'quantitative' as const, title: X_TITLE },
          y: { field: 'lag', type: 'quantitative' as const, title: 'projector lag (messages)' },
        },
      },
    ],
  };
}

/** The shaded band of each step, with its rate written at the top when `withLabels`. */
function stepLayers(bands: StepBand[], withLabels: boolean) {
  const shade = {
    data: { values: bands },
    mark: { type: 'rect' as const, opacity: 0.12, color: '#4c78a8' },
    encoding: { x: { field: 'start', type: 'quantitative' as const }, x2: { field: 'end' } },
  };
  const label = {
    data: { values: bands },
    mark: {
      type: 'text' as const,
      align: 'left' as const,
      baseline: 'top' as const,
      dx: 3,
      dy: 3,
      fontSize: 11,
    },
    encoding: {
      x: { field: 'start', type: 'quantitative' as const },
      y: { value: 0 },
      text: { field: 'label', type: 'nominal' as const },
    },
  };
  return withLabels ? [shade, label] : [shade];
}
