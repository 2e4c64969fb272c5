/**
 * Projector benchmark (not a test). Over a fresh read-store database and fresh topics, measures:
 *   1. catch-up: a backlog of ~200,000 pre-produced events replayed by `locus projector run` (a child
 *      process, as in production) → events/s (target ≥ 25,000);
 *   2. set-based batches vs one statement set per event, same 20,000 events, same transactions
 *      (target ≥ 5×);
 *   3. sustained 10,000 events/s for 60 s with the projector at the head → lag per second (flat?);
 *   4. the projector process's peak RSS (VmHWM; target ≤ 200 MB).
 * Run: `[PROJECTOR_NODE_ARGS='--max-semi-space-size=2'] [LOCUS_PROJECTOR_MAX_BATCH_EVENTS=20000] npx tsx bench/projector/projector.bench.ts [--backlog 200000]
 * [--sustain-seconds 60]`
 * (services up; LOCUS_* set or ~/.locus/env). Writes bench/results/projector-<time>.json.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { Presets, SingleBar } from 'cli-progress';
import pg from 'pg';
import { readEnvFile } from '../../src/cli/services.command.js';
import { topicNames, topicSpecs, type Topics } from '../../src/contracts/topics.js';
import { createBroker, type Broker, type MessageProducer } from '../../src/messaging/kafka.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { applyChanges } from '../../src/projector/apply-changes.js';
import { decodeMessage } from '../../src/projector/batch-plan.js';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/project-batch.js';
import { viewTables, withTransaction, type Change } from '../../src/projector/projection.types.js';
import { loadConfig } from '../../src/shared/config.js';
import { PROCESS_NODE_FLAGS } from '../../src/supervisor/process-supervisor.js';
import { createLogger } from '../../src/shared/logger.js';
import { createPool } from '../../src/shared/postgres.js';
import { writeChartSvg } from '../lib/chart.js';
import { compileLocus } from '../lib/compiled.js';
import { machineDescription, markdownTable, RESULTS_DIR, writeResults } from '../lib/results.js';
import { seededRandom, toMessage, type StreamEvent } from '../../test/projector/projector.fixtures.js';
import { createTestDatabase } from '../../test/support/isolation.js';
import { writeCatchUpBacklog } from './backlog.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const BACKLOG = arg('backlog', 200_000);
const SUSTAIN_SECONDS = arg('sustain-seconds', 60);
const SUSTAIN_RATE = arg('rate', 10_000);
const COMPARE_EVENTS = arg('compare', 20_000);
/**
 * Node/V8 flags for the projector process only (default: the heap caps locus starts it with,
 * PROCESS_NODE_FLAGS.projector; `PROJECTOR_NODE_ARGS=''` for V8's defaults); recorded in the results.
 */
const PROJECTOR_NODE_FLAGS = process.env.PROJECTOR_NODE_ARGS ?? PROCESS_NODE_FLAGS.projector!.join(' ');

// createTestDatabase reads the addresses from process.env.
Object.assign(process.env, { ...readEnvFile(), ...process.env });
const env = process.env;
const config = loadConfig(
  ['LOCUS_READ_DB_URL', 'LOCUS_KAFKA_BROKERS', 'LOCUS_PROJECTOR_MAX_BATCH_EVENTS'],
  env,
);
const logger = createLogger('bench-projector', 'warn');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stamp = Date.now().toString(36);

async function produceAll(producer: MessageProducer, topics: Topics, events: StreamEvent[], label: string) {
  const bar = new SingleBar(
    { format: `${label} [{bar}] {value}/{total} | {eta_formatted}` },
    Presets.shades_classic,
  );
  bar.start(events.length, 0);
  const started = performance.now();
  for (let i = 0; i < events.length; i += 5_000) {
    await producer.send(events.slice(i, i + 5_000).map((e) => toMessage(topics, e)));
    bar.update(Math.min(events.length, i + 5_000));
  }
  bar.stop();
  return events.length / ((performance.now() - started) / 1000);
}

async function endTotal(broker: Broker, topics: Topics): Promise<number> {
  const ends = await Promise.all(
    [topics.products, topics.categories, topics.reviews].map((t) => broker.endOffsets(t)),
  );
  return ends.flat().reduce((n, p) => n + Number(p.offset), 0);
}

async function storedTotal(pool: pg.Pool, consumer: string): Promise<number> {
  const result = await pool.query<{ n: number }>(
    'SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM projector_positions WHERE consumer = $1',
    [consumer],
  );
  return Number(result.rows[0]?.n ?? 0);
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function main() {
  const results: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    machine: machineDescription(),
    loadAverageAtStart: os.loadavg().map((n) => Number(n.toFixed(2))),
    backlog: BACKLOG,
    projectorNodeFlags: PROJECTOR_NODE_FLAGS,
    projectorRuns: compileLocus(),
    maxEventsPerTransaction: Number(config.LOCUS_PROJECTOR_MAX_BATCH_EVENTS),
  };
  const prefix = `bench_${stamp}.`;
  const topics = topicNames(prefix);
  const consumer = `bench-projector-${stamp}`;
  const db = await createTestDatabase('readmodel');
  const url = db.url;
  const pool = createPool(url, { applicationName: 'bench-projector', max: 4 });
  const broker = createBroker({ brokers: config.LOCUS_KAFKA_BROKERS, clientId: 'bench-projector', logger });
  await broker.ensureTopics(topicSpecs(topics));
  const producer = await broker.producer();
  let child: ReturnType<typeof spawn> | undefined;
  try {
    // ---- 1. catch-up of a backlog
    const random = seededRandom(1);
    const writer = writeCatchUpBacklog(BACKLOG, random);
    const backlog = writer.events.splice(0);
    console.log(`producing a backlog of ${backlog.length} events`);
    results.produceRate = await produceAll(producer, topics, backlog, 'produce');

    child = spawn(
      process.execPath,
      [
        ...PROJECTOR_NODE_FLAGS.split(' ').filter(Boolean),
        path.join(REPO_ROOT, 'bin/locus.js'),
        'projector',
        'run',
      ],
      {
        env: {
          ...env,
          LOCUS_READ_DB_URL: url,
          LOCUS_TOPIC_PREFIX: prefix,
          LOCUS_PROJECTOR_GROUP: consumer,
          LOCUS_PROJECTOR_PORT: '0',
          LOCUS_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const spawnedAt = performance.now();
    const total = await endTotal(broker, topics);
    const bar = new SingleBar(
      { format: 'catch-up [{bar}] {value}/{total} events | {rate} ev/s | ETA {eta_formatted}' },
      Presets.shades_classic,
    );
    bar.start(total, 0, { rate: 0 });
    let firstCommitAt: number | undefined;
    for (;;) {
      const done = await storedTotal(pool, consumer);
      if (done > 0 && firstCommitAt === undefined) firstCommitAt = performance.now();
      const seconds = (performance.now() - (firstCommitAt ?? spawnedAt)) / 1000;
      bar.update(done, { rate: Math.round(done / Math.max(seconds, 0.001)) });
      if (done >= total) break;
      await sleep(200);
    }
    bar.stop();
    const caughtUpAt = performance.now();
    const catchUp = {
      events: total,
      secondsFromSpawn: (caughtUpAt - spawnedAt) / 1000,
      secondsFromFirstCommit: (caughtUpAt - firstCommitAt!) / 1000,
      eventsPerSecond: Math.round(total / ((caughtUpAt - firstCommitAt!) / 1000)),
      eventsPerSecondIncludingStartup: Math.round(total / ((caughtUpAt - spawnedAt) / 1000)),
      peakRssMbAfterCatchUp: peakRssMb(child.pid!),
      target: 25_000,
    };
    results.catchUp = catchUp;
    console.log('catch-up:', catchUp);

    // ---- 3. sustained rate at the head
    console.log(`sustaining ${SUSTAIN_RATE} events/s for ${SUSTAIN_SECONDS} s`);
    const products = writer.liveProductIds();
    const lagSamples: number[] = [];
    const sustainBar = new SingleBar(
      { format: 'sustain [{bar}] {value}/{total} s | lag {lag}' },
      Presets.shades_classic,
    );
    sustainBar.start(SUSTAIN_SECONDS, 0, { lag: 0 });
    const sustainStart = performance.now();
    let sent = 0;
    let nextSample = 1;
    while (performance.now() - sustainStart < SUSTAIN_SECONDS * 1000) {
      const elapsed = (performance.now() - sustainStart) / 1000;
      const due = Math.floor(elapsed * SUSTAIN_RATE) - sent;
      if (due > 0) {
        for (let i = 0; i < due; i++) {
          const id = products[Math.floor(random() * products.length)]!;
          if (random() < 0.4) writer.product({ id, price: 100 + Math.floor(random() * 10_000) });
          else writer.review({ productId: id, rating: 1 + Math.floor(random() * 5) });
        }
        const batch = writer.events.splice(0);
        for (let i = 0; i < batch.length; i += 2_000) {
          await producer.send(batch.slice(i, i + 2_000).map((e) => toMessage(topics, e)));
        }
        sent += due;
      }
      if (elapsed >= nextSample) {
        const lag = (await endTotal(broker, topics)) - (await storedTotal(pool, consumer));
        lagSamples.push(lag);
        sustainBar.update(nextSample, { lag });
        nextSample += 1;
      }
      await sleep(20);
    }
    sustainBar.stop();
    const sustainSeconds = (performance.now() - sustainStart) / 1000;
    const half = Math.floor(lagSamples.length / 2);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const sustained = {
      targetRate: SUSTAIN_RATE,
      producedRate: Math.round(sent / sustainSeconds),
      seconds: sustainSeconds,
      lagSamples,
      lagMax: Math.max(...lagSamples),
      lagMeanFirstHalf: Math.round(mean(lagSamples.slice(0, half))),
      lagMeanSecondHalf: Math.round(mean(lagSamples.slice(half))),
      // flat = the lag neither grows nor shrinks: its least-squares slope over the second half ≈ 0
      lagSlopePerSecondSecondHalf: Math.round(slope(lagSamples.slice(half))),
      peakRssMb: peakRssMb(child.pid!),
    };
    results.sustained = sustained;
    console.log('sustained:', { ...sustained, lagSamples: undefined });
    results.peakRssMb = { value: sustained.peakRssMb, target: 200 };

    child.kill('SIGTERM');
    await new Promise((resolve) => child!.once('exit', resolve));
    child = undefined;

    // ---- 2. set-based vs per-event, same changes, same transactions
    results.batchedVsPerEvent = await compareBatching(backlog.slice(0, COMPARE_EVENTS));
    console.log('batched vs per-event:', results.batchedVsPerEvent);
  } finally {
    if (child) child.kill('SIGKILL');
    await producer.close();
    await broker.deleteTopics([topics.products, topics.categories, topics.reviews, `${prefix}dead-letter`]);
    await broker.close();
    await pool.end();
    await db.drop();
  }
  results.finishedAt = new Date().toISOString();
  results.loadAverageAtEnd = os.loadavg().map((n) => Number(n.toFixed(2)));
  await writeSummary(results);
  const dir = path.join(REPO_ROOT, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `projector-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${file}`);
}

/** Applies the same changes twice into fresh databases: set-based per 1,000, then one call per event. */
async function compareBatching(events: StreamEvent[]) {
  const changes: Change[] = events.map((e) => {
    const decoded = decodeMessage({
      topic: '',
      partition: 0,
      offset: '0',
      key: e.key,
      value: Buffer.from(JSON.stringify(e.envelope)),
      headers: {},
      timestamp: 0,
    });
    if (!('change' in decoded)) throw new Error(decoded.reason);
    return decoded.change;
  });
  const run = async (label: string, perEvent: boolean) => {
    const db = await createTestDatabase('readmodel');
    const pool = createPool(db.url, {
      applicationName: 'bench-compare',
      max: 1,
      sessionSettings: PROJECTOR_SESSION_SETTINGS,
    });
    const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total}` }, Presets.shades_classic);
    bar.start(changes.length, 0);
    const started = performance.now();
    try {
      for (let i = 0; i < changes.length; i += 1_000) {
        const slice = changes.slice(i, i + 1_000);
        await withTransaction(pool, async (tx) => {
          if (perEvent) for (const change of slice) await applyChanges(tx, viewTables(), [change]);
          else await applyChanges(tx, viewTables(), slice);
        });
        bar.update(i + slice.length);
      }
    } finally {
      bar.stop();
      await pool.end();
      await db.drop();
    }
    return changes.length / ((performance.now() - started) / 1000);
  };
  const batched = await run('batched', false);
  const perEvent = await run('per_event', true);
  return {
    events: changes.length,
    batchedPerSecond: Math.round(batched),
    perEventPerSecond: Math.round(perEvent),
    speedup: Number((batched / perEvent).toFixed(1)),
    target: 5,
  };
}

/** Least-squares slope of equally spaced samples (per sample). */
function slope(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const meanX = (n - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

/** projector-latest.md (figures against the targets) and projector-latest.svg (lag per second). */
async function writeSummary(results: Record<string, unknown>): Promise<void> {
  const catchUp = results.catchUp as {
    eventsPerSecond: number;
    events: number;
    peakRssMbAfterCatchUp: number;
  };
  const sustained = results.sustained as {
    targetRate: number;
    producedRate: number;
    seconds: number;
    lagSamples: number[];
    lagMax: number;
    lagMeanFirstHalf: number;
    lagMeanSecondHalf: number;
    lagSlopePerSecondSecondHalf: number;
    peakRssMb: number;
  };
  const batching = results.batchedVsPerEvent as {
    speedup: number;
    batchedPerSecond: number;
    perEventPerSecond: number;
  };
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
  const markdown = [
    '# Projector benchmark',
    '',
    `Run ${String(results.startedAt)}. Machine: ${String(results.machine)}; load average at start ` +
      `${String(results.loadAverageAtStart)}, at end ${String(results.loadAverageAtEnd)}.`,
    `The projector runs as its own process (\`locus projector run\` from ${String(results.projectorRuns)}, node flags ` +
      `\`${PROJECTOR_NODE_FLAGS || 'none'}\`, up to ${String(results.maxEventsPerTransaction)} events per ` +
      'transaction); Kafka, PostgreSQL (primary and replica) and this load generator share the machine.',
    '',
    table,
    'Lag = the topics’ end offsets − the positions the projector committed in the read store, sampled ' +
      'every second; chart: `projector-latest.svg`. Freshness at 1,000 events/s is measured end to end by ' +
      '`npm run bench:pipeline`. Raw figures: the `projector-*.json` of the same time.',
    '',
  ].join('\n');
  await writeResults('projector-latest', { '.md': markdown });
  await writeChartSvg(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: `Projector lag while ${sustained.targetRate} events/s are produced`,
      width: 640,
      height: 260,
      data: { values: sustained.lagSamples.map((lag, i) => ({ second: i + 1, lag })) },
      mark: { type: 'line' },
      encoding: {
        x: { field: 'second', type: 'quantitative', title: 'second of the sustained phase' },
        y: { field: 'lag', type: 'quantitative', title: 'lag (events)' },
      },
    },
    path.join(RESULTS_DIR, 'projector-latest.svg'),
  );
}

await main();
