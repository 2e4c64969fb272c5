import os from 'node:os';
import { writeResults } from '../lib/results.js';
import type { ClosedLoopResult, OpenLoopResult } from './catalog-load.js';

export interface CatalogWriteRun {
  throughput: ClosedLoopResult;
  latency: OpenLoopResult & {
    commitToAckEvents: number;
    commitToAckP50Ms: number;
    commitToAckP99Ms: number;
    commitToAckMaxMs: number;
  };
  relay: { backlog: number; batchSize: number; seconds: number; eventsPerSecond: number };
}

/** Prints the summary against the targets and writes catalog-write-<time>.json. */
export async function writeReport(run: CatalogWriteRun): Promise<void> {
  const { throughput, latency, relay } = run;
  const result = {
    benchmark: 'catalog-write',
    at: new Date().toISOString(),
    host: { cpus: os.cpus().length, node: process.version, loadAverageAtEnd: os.loadavg() },
    throughput,
    latency,
    relay,
    targets: {
      commitToAckP99Ms: {
        target: 50,
        measured: latency.commitToAckP99Ms,
        met: latency.commitToAckP99Ms <= 50,
      },
      relayEventsPerSecond: {
        target: 5000,
        measured: relay.eventsPerSecond,
        met: relay.eventsPerSecond >= 5000,
      },
    },
  };
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  console.log('\nsummary');
  console.log(
    `  writes/s (HTTP, closed loop)     ${throughput.writesPerSecond.toFixed(0)}  (HTTP p50 ${throughput.httpP50Ms} ms, p99 ${throughput.httpP99Ms} ms)`,
  );
  console.log(
    `  open loop sent rate              ${latency.sentRate.toFixed(0)} writes/s, ${latency.failures} failures`,
  );
  console.log(
    `  commit -> ack p50 / p99 / max    ${latency.commitToAckP50Ms} / ${latency.commitToAckP99Ms} / ${latency.commitToAckMaxMs} ms  (target p99 <= 50 ms: ${verdict(result.targets.commitToAckP99Ms.met)})`,
  );
  console.log(`  HTTP p50 / p99 (open loop)       ${latency.httpP50Ms} / ${latency.httpP99Ms} ms`);
  console.log(
    `  relay drain                      ${relay.eventsPerSecond.toFixed(0)} events/s  (target >= 5,000: ${verdict(result.targets.relayEventsPerSecond.met)})`,
  );
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const [file] = await writeResults(`catalog-write-${stamp}`, {
    '.json': `${JSON.stringify(result, null, 2)}\n`,
  });
  console.log(`  written to ${file}`);
}
