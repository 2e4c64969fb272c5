import type { OpenLoopResult } from '../lib/open-loop.js';
import type { ProcessUsage } from '../lib/process-sampler.js';
import { machineDescription, markdownTable, writeResults } from '../lib/results.js';
import { round } from '../lib/stats.js';
import type { ClosedLoopResult } from './query.load.js';

/** What a run measured, for the report. */
export interface QueryRun {
  dataset: { products: number; reviews: number };
  /** The open loop's target rate, req/s. */
  rate: number;
  concurrency: number;
  servedBy: string | null;
  nodeFlags: string;
  idleRssMb: number;
  openLoop: { result: OpenLoopResult; usage: ProcessUsage };
  control: OpenLoopResult;
  saturation: { result: ClosedLoopResult; usage: ProcessUsage };
}

/** Writes query-<time>.json and .md; returns the table and the files written. */
export async function writeReport(run: QueryRun): Promise<{ table: string; written: string[] }> {
  const openLoop = run.openLoop.result;
  const saturation = run.saturation.result;
  const usage = {
    peakRssMb: Math.max(run.openLoop.usage.peakRssMb, run.saturation.usage.peakRssMb),
    openLoopPeakRssMb: run.openLoop.usage.peakRssMb,
    cpuSeconds: run.openLoop.usage.cpuSeconds + run.saturation.usage.cpuSeconds,
  };
  const summary = {
    benchmark: 'query',
    machine: machineDescription(),
    note: 'load generator and query service share the machine (and its cores) with the three PostgreSQL servers',
    dataset: run.dataset,
    servedBy: run.servedBy,
    pointLookupOpenLoop: {
      targetRate: run.rate,
      achievedRate: round(openLoop.achievedRate),
      sent: openLoop.sent,
      errors: openLoop.errors,
      latencyMs: openLoop.latency,
    },
    controlDirectSqlOpenLoop: {
      achievedRate: round(run.control.achievedRate),
      latencyMs: run.control.latency,
    },
    saturation: {
      concurrency: run.concurrency,
      requestsPerSecond: round(saturation.perSecond),
      requests: saturation.requests,
      errors: saturation.errors,
      latencyMs: saturation.latency,
    },
    queryService: {
      nodeFlags: run.nodeFlags,
      idleRssMb: round(run.idleRssMb),
      openLoopPeakRssMb: round(usage.openLoopPeakRssMb),
      peakRssMb: round(usage.peakRssMb),
      cpuSeconds: round(usage.cpuSeconds),
    },
    targets: { p99Ms: 10, saturationRps: 5_000, rssMb: 200 },
  };
  const table = markdownTable(tableRows(run, usage));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const written = await writeResults(`query-${stamp}`, {
    '.json': `${JSON.stringify(summary, null, 2)}\n`,
    '.md': `# Query service benchmark\n\n${summary.machine}; service node flags: \`${run.nodeFlags || '(none)'}\`\n\n${table}`,
  });
  return { table, written };
}

function tableRows(run: QueryRun, usage: { peakRssMb: number; openLoopPeakRssMb: number }) {
  const openLoop = run.openLoop.result;
  const saturation = run.saturation.result;
  return [
    { measure: 'point lookup p50 @1k req/s (ms)', value: round(openLoop.latency.p50, 3), target: '' },
    { measure: 'point lookup p99 @1k req/s (ms)', value: round(openLoop.latency.p99), target: '<= 10' },
    {
      measure: 'control: direct SQL on the replica p99 @1k/s (ms)',
      value: round(run.control.latency.p99),
      target: '',
    },
    { measure: 'open-loop errors', value: openLoop.errors, target: '0' },
    { measure: 'saturation (req/s, single-row JSON)', value: round(saturation.perSecond), target: '>= 5000' },
    { measure: 'saturation p99 (ms)', value: round(saturation.latency.p99), target: '' },
    { measure: 'query service idle RSS (MB)', value: round(run.idleRssMb), target: '' },
    {
      measure: 'query service peak RSS at 1k req/s (MB)',
      value: round(usage.openLoopPeakRssMb),
      target: '<= 200',
    },
    { measure: 'query service peak RSS at saturation (MB)', value: round(usage.peakRssMb), target: '<= 200' },
  ];
}
