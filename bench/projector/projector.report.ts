import path from 'node:path';
import { writeChartSvg } from '../lib/chart.js';
import { markdownTable, RESULTS_DIR, writeResults } from '../lib/results.js';
import type { BatchingComparison } from './projector.compare.js';
import type { CatchUp, Sustained } from './projector.phases.js';

/** What a run measured; the JSON result file holds it as it is. */
export interface ProjectorResults {
  startedAt: string;
  machine: string;
  loadAverageAtStart: number[];
  backlog: number;
  projectorNodeFlags: string;
  projectorRuns: string;
  maxEventsPerTransaction: number;
  produceRate?: number;
  catchUp?: CatchUp;
  sustained?: Sustained;
  peakRssMb?: { value: number; target: number };
  batchedVsPerEvent?: BatchingComparison;
  finishedAt?: string;
  loadAverageAtEnd?: number[];
}

/**
 * Writes projector-<time>.json, projector-latest.md (figures against the targets) and
 * projector-latest.svg (lag per second).
 */
export async function writeReport(results: ProjectorResults): Promise<void> {
  const { catchUp, sustained, batchedVsPerEvent } = results;
  if (catchUp && sustained && batchedVsPerEvent) {
    await writeResults('projector-latest', {
      '.md': renderMarkdown(results, catchUp, sustained, batchedVsPerEvent),
    });
    await writeChartSvg(lagChart(sustained), path.join(RESULTS_DIR, 'projector-latest.svg'));
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const [file] = await writeResults(`projector-${stamp}`, {
    '.json': `${JSON.stringify(results, null, 2)}\n`,
  });
  console.log(`results: ${file}`);
}

function renderMarkdown(
  results: ProjectorResults,
  catchUp: CatchUp,
  sustained: Sustained,
  batching: BatchingComparison,
): string {
  const mark = (ok: boolean) => (ok ? 'met' : '**not met**');
  const flat = Math.abs(sustained.lagSlopePerSecondSecondHalf) < sustained.targetRate * 0.01;
  const table = markdownTable([
    {
      figure: 'catch-up of a backlog',
      measured: `${catchUp.eventsPerSecond} events/s (${catchUp.events} events)`,
      target: '≥ 25,000 events/s',
      verdict: mark(catchUp.eventsPerSecond >= 25_000),
    },
    {
      figure: 'set-based batches vs one statement set per event',
      measured: `${batching.speedup}× (${batching.batchedPerSecond} vs ${batching.perEventPerSecond} events/s)`,
      target: '≥ 5×',
      verdict: mark(batching.speedup >= 5),
    },
    {
      figure: `sustained ${sustained.targetRate} events/s for ${Math.round(sustained.seconds)} s`,
      measured:
        `produced ${sustained.producedRate}/s; lag mean ${sustained.lagMeanFirstHalf} → ` +
        `${sustained.lagMeanSecondHalf} (first → second half), slope ` +
        `${sustained.lagSlopePerSecondSecondHalf} events/s, max ${sustained.lagMax}`,
      target: 'lag flat (|slope| < 1% of the rate)',
      verdict: mark(flat),
    },
    {
      figure: 'projector peak RSS (VmHWM)',
      measured: `${Math.round(sustained.peakRssMb)} MB (after catch-up ${Math.round(catchUp.peakRssMbAfterCatchUp)} MB)`,
      target: '≤ 200 MB',
      verdict: mark(sustained.peakRssMb <= 200),
    },
  ]);
  return [
    '# Projector benchmark',
    '',
    `Run ${results.startedAt}. Machine: ${results.machine}; load average at start ` +
      `${String(results.loadAverageAtStart)}, at end ${String(results.loadAverageAtEnd)}.`,
    `The projector runs as its own process (\`locus projector run\` from ${results.projectorRuns}, node flags ` +
      `\`${results.projectorNodeFlags || 'none'}\`, up to ${results.maxEventsPerTransaction} events per ` +
      'transaction); Kafka, PostgreSQL (primary and replica) and this load generator share the machine.',
    '',
    table,
    'Lag = the topics’ end offsets − the positions the projector committed in the read store, sampled ' +
      'every second; chart: `projector-latest.svg`. Freshness at 1,000 events/s is measured end to end by ' +
      '`npm run bench:pipeline`. Raw figures: the `projector-*.json` of the same time.',
    '',
  ].join('\n');
}

function lagChart(sustained: Sustained) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Projector lag while ${sustained.targetRate} events/s are produced`,
    width: 640,
    height: 260,
    data: { values: sustained.lagSamples.map((lag, i) => ({ second: i + 1, lag })) },
    mark: { type: 'line' as const },
    encoding: {
      x: { field: 'second', type: 'quantitative' as const, title: 'second of the sustained phase' },
      y: { field: 'lag', type: 'quantitative' as const, title: 'lag (events)' },
    },
  };
}
