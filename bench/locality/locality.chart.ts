import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { writeChartSvg } from '../lib/chart.js';
import { RESULTS_DIR } from '../lib/results.js';
import type { BenchResults } from './locality.report.js';

/** Latency and bytes against the result/input ratio, log scales, one panel each; auto as markers. */
export async function renderChart(results: BenchResults, name = 'locality'): Promise<string> {
  const sweep = results.sweep!;
  const values = sweep.points.flatMap((p) =>
    (
      [
        ['locality', p.locality],
        ['service-join', p.serviceJoin],
      ] as const
    ).map(([strategy, m]) => ({
      point: p.name,
      ratio: p.ratio,
      strategy,
      p50: m.p50Ms,
      mb: Math.max(m.bytesPerRun, 1) / 1e6,
      autoChose: p.auto.chose.join('/'),
      autoP50: p.auto.p50Ms,
      autoMb: Math.max(p.auto.bytesPerRun, 1) / 1e6,
    })),
  );
  const autoValues = sweep.points.map((p) => ({
    point: p.name,
    ratio: p.ratio,
    p50: p.auto.p50Ms,
    mb: Math.max(p.auto.bytesPerRun, 1) / 1e6,
    autoChose: `auto → ${p.auto.chose.join('/')}`,
  }));
  const x = {
    field: 'ratio',
    type: 'quantitative',
    scale: { type: 'log' },
    title: 'result rows / input reviews',
  } as const;
  const colour = {
    field: 'strategy',
    type: 'nominal',
    title: 'strategy',
    scale: { domain: ['locality', 'service-join'], range: ['#1b9e77', '#d95f02'] },
  } as const;
  const panel = (field: 'p50' | 'mb', title: string) => ({
    width: 360,
    height: 260,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field, type: 'quantitative', scale: { type: 'log' }, title },
          color: colour,
          tooltip: [{ field: 'point' }, { field: 'strategy' }, { field }],
        },
      },
      {
        data: { values: autoValues },
        mark: { type: 'point', size: 160, strokeWidth: 2, filled: false, color: '#444' },
        encoding: {
          x,
          y: { field, type: 'quantitative' },
          shape: { field: 'autoChose', type: 'nominal', title: 'strategy=auto' },
          tooltip: [{ field: 'point' }, { field: 'autoChose' }, { field }],
        },
      },
    ],
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `Locality vs service-join at ${sweep.reviews.toLocaleString('en')} reviews`,
      subtitle: `rollup G = 1 … N and the export (ratio 1); ${results.machine}`,
    },
    background: 'white',
    hconcat: [panel('p50', 'latency p50 (ms)'), panel('mb', 'MB moved to the query service per request')],
    resolve: { scale: { color: 'shared', shape: 'shared' } },
  } as unknown as TopLevelSpec;
  const file = path.join(RESULTS_DIR, `${name}-latest.svg`);
  await writeChartSvg(spec, file);
  return path.relative(REPO_ROOT, file);
}
