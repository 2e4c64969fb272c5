/**
 * Catch-up with the projector in this process (a profiling aid): produces the benchmark's backlog, runs
 * createProjector over it, and reports how many events each group commit held and how the wall time
 * splits between applying (inside runBatch) and waiting for Kafka.
 * Run: `npx tsx bench/projector/profile-live.ts [--backlog 200000] [--cap 10000]` (add `node --cpu-prof` via
 * NODE_OPTIONS for a CPU profile; --help lists the options).
 */
import { createProjectorMetrics } from '../../src/projector/projector.metrics.js';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/session-settings.js';
import { createProjector } from '../../src/projector/projector.js';
import { kafkaCredentials } from '../../src/messaging/kafka-credentials.js';
import { createTopicOffsetsReader } from '../../src/messaging/topic-offsets.js';
import { viewTables } from '../../src/projector/projection.types.js';
import { systemClock } from '../../src/shared/clock.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { createPool } from '../../src/shared/postgres.js';
import { produce } from '../../testkit/events.js';
import { parseBenchArgs } from '../lib/args.js';
import { runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import { writeCatchUpBacklog } from './backlog.js';

const options = parseBenchArgs(
  {
    run: 'npx tsx bench/projector/profile-live.ts [options]',
    summary: 'Catch-up of the benchmark backlog by a projector in this process: group commits and memory.',
  },
  {
    backlog: { type: 'number', default: 200_000, help: 'events in the backlog' },
    cap: { type: 'number', default: 0, help: 'max events per transaction (0: the projector default)' },
  },
);

/**
 * Memory the projector adds: sampled every 200 ms against a baseline taken after a full GC (run with
 * `node --expose-gc` for the baseline to be exact). `stop()` ends sampling.
 */
function sampleMemory() {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage();
  const peak = { heapUsed: 0, external: 0, arrayBuffers: 0, rss: 0 };
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    for (const key of Object.keys(peak) as (keyof typeof peak)[])
      peak[key] = Math.max(peak[key], Math.round((now[key] - base[key]) / 2 ** 20));
  }, 200);
  return { peak, stop: () => clearInterval(sampler) };
}

async function profileLive(environment: BenchEnvironment): Promise<void> {
  const db = await environment.database('readmodel');
  const pool = createPool(db.url, {
    applicationName: 'bench-live',
    max: 6,
    sessionSettings: PROJECTOR_SESSION_SETTINGS,
  });
  environment.defer('close the pool', () => pool.end());
  const { topics } = await environment.topics({ create: true });
  const broker = environment.broker();
  const writer = writeCatchUpBacklog(options.backlog);
  const producer = await broker.producer();
  await produce(producer, topics, writer.events, 5_000);
  await producer.close();
  const total = writer.events.length;
  writer.events.length = 0;
  const memory = sampleMemory();
  const metrics = createProjectorMetrics(createMetricsRegistry('profile'));
  const sizes: number[] = [];
  let done = 0;
  let finished: () => void;
  const caughtUp = new Promise<void>((resolve) => (finished = resolve));
  let firstAt = 0;
  const topicOffsets = createTopicOffsetsReader({
    brokers: environment.address('LOCUS_KAFKA_BROKERS'),
    clientId: 'bench-live',
    credentials: kafkaCredentials('admin'),
  });
  environment.defer('close the offsets reader', () => topicOffsets.close());
  const projector = createProjector({
    pool,
    broker,
    topicOffsets,
    topics,
    groupId: `live-${environment.stamp}`,
    consumer: `live-${environment.stamp}`,
    tables: viewTables(),
    logger: environment.logger,
    clock: systemClock,
    metrics,
    stuckAfterMs: 60_000,
    ...(options.cap > 0 ? { maxEventsPerTransaction: options.cap } : {}),
    onBatch: (outcome) => {
      if (outcome.handled === 0) return;
      firstAt ||= performance.now();
      sizes.push(outcome.handled);
      done += outcome.handled;
      if (done >= total) finished();
    },
  });
  const started = performance.now();
  await projector.start();
  await caughtUp;
  const wallMs = performance.now() - started;
  await projector.stop();
  memory.stop();
  const duration = (await metrics.batchDuration.get()).values.find((v) => v.metricName?.endsWith('_sum'));
  sizes.sort((a, b) => a - b);
  const report = {
    events: total,
    wallSeconds: wallMs / 1000,
    eventsPerSecond: Math.round(total / ((performance.now() - firstAt) / 1000)),
    applySeconds: duration?.value,
    commits: sizes.length,
    peakAboveBaselineMb: memory.peak,
    size: { p10: sizes[Math.floor(sizes.length * 0.1)], p50: sizes[sizes.length >> 1], max: sizes.at(-1) },
  };
  console.log(JSON.stringify(report));
}

await runBenchmark('profile-live', profileLive);
