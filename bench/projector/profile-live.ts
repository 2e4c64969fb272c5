/**
 * Catch-up with the projector in this process (a profiling aid): produces the benchmark's backlog, runs
 * createProjector over it, and reports how many events each group commit held and how the wall time
 * splits between applying (inside projectBatches) and waiting for Kafka.
 * Run: `npx tsx bench/projector/profile-live.ts [--backlog 200000] [--cap 10000]` (add `node --cpu-prof` via
 * NODE_OPTIONS for a CPU profile).
 */
import { readEnvFile } from '../../src/cli/services.command.js';
import { topicNames, topicSpecs } from '../../src/contracts/topics.js';
import { createBroker } from '../../src/messaging/kafka.js';
import { createProjectorMetrics } from '../../src/projector/projector.metrics.js';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/project-batch.js';
import { createProjector } from '../../src/projector/projector.js';
import { viewTables } from '../../src/projector/projection.types.js';
import { systemClock } from '../../src/shared/clock.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';
import { createPool } from '../../src/shared/postgres.js';
import { produce } from '../../test/projector/projector.fixtures.js';
import { createTestDatabase } from '../../test/support/isolation.js';
import { writeCatchUpBacklog } from './backlog.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const BACKLOG = arg('backlog', 200_000);
const CAP = arg('cap', 0);
Object.assign(process.env, { ...readEnvFile(), ...process.env });
const config = loadConfig(['LOCUS_KAFKA_BROKERS']);
const logger = createLogger('profile-live', 'warn');
const stamp = Date.now().toString(36);
const prefix = `live_${stamp}.`;
const topics = topicNames(prefix);

const db = await createTestDatabase('readmodel');
const pool = createPool(db.url, {
  applicationName: 'bench-live',
  max: 6,
  sessionSettings: PROJECTOR_SESSION_SETTINGS,
});
const broker = createBroker({ brokers: config.LOCUS_KAFKA_BROKERS, clientId: 'bench-live', logger });
try {
  await broker.ensureTopics(topicSpecs(topics));
  const writer = writeCatchUpBacklog(BACKLOG);
  const producer = await broker.producer();
  await produce(producer, topics, writer.events, 5_000);
  await producer.close();
  const total = writer.events.length;
  writer.events.length = 0;
  // Memory the projector adds: sampled every 200 ms against a baseline taken after a full GC
  // (run with `node --expose-gc` for the baseline to be exact).
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage();
  const peak = { heapUsed: 0, external: 0, arrayBuffers: 0, rss: 0 };
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    for (const key of Object.keys(peak) as (keyof typeof peak)[])
      peak[key] = Math.max(peak[key], Math.round((now[key] - base[key]) / 2 ** 20));
  }, 200);

  const registry = createMetricsRegistry('profile');
  const metrics = createProjectorMetrics(registry);
  const sizes: number[] = [];
  let done = 0;
  let finished: () => void;
  const caughtUp = new Promise<void>((resolve) => (finished = resolve));
  let firstAt = 0;
  const projector = createProjector({
    pool,
    broker,
    topics,
    groupId: `live-${stamp}`,
    consumer: `live-${stamp}`,
    tables: viewTables(),
    logger,
    clock: systemClock,
    metrics,
    stuckAfterMs: 60_000,
    ...(CAP > 0 ? { maxEventsPerTransaction: CAP } : {}),
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
  clearInterval(sampler);
  const duration = (await metrics.batchDuration.get()).values.find((v) => v.metricName?.endsWith('_sum'));
  sizes.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      events: total,
      wallSeconds: wallMs / 1000,
      eventsPerSecond: Math.round(total / ((performance.now() - firstAt) / 1000)),
      applySeconds: duration?.value,
      commits: sizes.length,
      peakAboveBaselineMb: peak,
      size: { p10: sizes[Math.floor(sizes.length * 0.1)], p50: sizes[sizes.length >> 1], max: sizes.at(-1) },
    }),
  );
} finally {
  await broker.deleteTopics([topics.products, topics.categories, topics.reviews]).catch(() => undefined);
  await broker.close();
  await pool.end();
  await db.drop();
}
