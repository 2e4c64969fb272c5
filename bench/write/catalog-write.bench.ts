/**
 * Write-side benchmark of the catalog (not a test). Runs the catalog service as a child process over
 * a fresh database, the relay in this process, and measures:
 *   1. writes/s through the catalog over HTTP (closed loop, 32 in flight);
 *   2. commit -> Kafka-ack latency (outbox created_at -> ack) at 1,000 writes/s open loop;
 *   3. relay max throughput draining a 50,000-event backlog.
 * Targets: p99 commit->ack <= 50 ms; relay >= 5,000 events/s.
 * Run: `locus bench write -- [options]` (services up, LOCUS_* set or ~/.locus/env; `-- --help` lists
 * the options, which the BENCH_* variables of older runs still set). Writes
 * bench/results/catalog-write-<time>.json.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { createPool } from '../../src/shared/postgres.js';
import { freePort } from '../../testkit/ports.js';
import { parseBenchArgs } from '../lib/args.js';
import { runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import {
  histogram,
  ms,
  postProduct,
  runLoad,
  type ClosedLoopResult,
  type LoadPlan,
  type OpenLoopResult,
} from './catalog-load.js';
import { fillBacklog, RelayHarness } from './catalog-relay.js';
import { writeReport } from './catalog-write.report.js';

const options = parseBenchArgs(
  {
    run: 'locus bench write -- [options]',
    summary: 'Catalog writes/s over HTTP, commit → Kafka ack at a fixed rate, relay drain of a backlog.',
  },
  {
    'write-seconds': { type: 'number', default: 10, env: 'BENCH_WRITE_SECONDS', help: 'closed-loop phase' },
    'write-concurrency': {
      type: 'number',
      default: 32,
      env: 'BENCH_WRITE_CONCURRENCY',
      help: 'writes in flight',
    },
    'open-loop-rate': {
      type: 'number',
      default: 1_000,
      env: 'BENCH_OPEN_LOOP_RATE',
      help: 'writes/s, open loop',
    },
    'open-loop-seconds': {
      type: 'number',
      default: 15,
      env: 'BENCH_OPEN_LOOP_SECONDS',
      help: 'open-loop phase',
    },
    'relay-backlog': {
      type: 'number',
      default: 50_000,
      env: 'BENCH_BACKLOG',
      help: 'outbox events to drain',
    },
    'relay-batch': { type: 'number', default: 1_000, env: 'BENCH_RELAY_BATCH', help: 'relay batch size' },
  },
);

async function catalogWrite(environment: BenchEnvironment): Promise<void> {
  const db = await environment.database('catalog');
  const pool = createPool(db.url, { applicationName: 'locus-bench-write', max: 4 });
  environment.defer('close the pool', () => pool.end());
  const { prefix, topics } = await environment.topics({ create: true });
  const producer = await environment.broker().producer();
  environment.defer('close the producer', () => producer.close());
  const port = await freePort();
  const supervisor = environment.processes({
    ...db.env,
    LOCUS_CATALOG_PORT: String(port),
    LOCUS_TOPIC_PREFIX: prefix,
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await supervisor.start({ name: 'catalog', args: ['catalog'], healthUrl: `${baseUrl}/health` });
  const relay = new RelayHarness(db.url, pool, producer, environment.logger);
  environment.defer('stop the relay', () => relay.stop());
  const plan = (mode: LoadPlan['mode']): LoadPlan => ({
    mode,
    baseUrl,
    writeSeconds: options['write-seconds'],
    writeConcurrency: options['write-concurrency'],
    openLoopRate: options['open-loop-rate'],
    openLoopSeconds: options['open-loop-seconds'],
  });
  relay.start(500);

  console.log(
    `1/3 writes/s through the catalog over HTTP (${options['write-concurrency']} in flight, ${options['write-seconds']} s)`,
  );
  for (let i = 0; i < 200; i++) await postProduct(baseUrl); // warm-up
  const throughput = await runLoad<ClosedLoopResult>(plan('closed'));
  await relay.drained(50);

  console.log(
    `2/3 commit -> Kafka ack at ${options['open-loop-rate']} writes/s open loop (${options['open-loop-seconds']} s)`,
  );
  const ack = histogram();
  relay.commitToAck = ack;
  const http = await runLoad<OpenLoopResult>(plan('open'));
  await relay.drained(20);
  await sleep(200);
  relay.commitToAck = undefined;
  const latency = {
    ...http,
    commitToAckEvents: ack.totalCount,
    commitToAckP50Ms: ms(ack, 50),
    commitToAckP99Ms: ms(ack, 99),
    commitToAckMaxMs: ack.maxValue / 1000,
  };
  await relay.stop();

  const relayResult = await drainBacklog(pool, relay, topics.products);
  await writeReport({ throughput, latency, relay: relayResult });
}

/** Phase 3: the relay's drain rate over a backlog filled in one statement. */
async function drainBacklog(pool: pg.Pool, relay: RelayHarness, topic: string) {
  const backlog = options['relay-backlog'];
  const batchSize = options['relay-batch'];
  console.log(`3/3 relay draining a backlog of ${backlog} events (batch ${batchSize})`);
  await pool.query('DELETE FROM outbox');
  await fillBacklog(pool, topic, backlog);
  let drained = 0;
  const started = performance.now();
  relay.start(batchSize, (n) => (drained += n));
  const progress = setInterval(() => process.stdout.write(`\r  drained ${drained}/${backlog}`), 500);
  await relay.drained(20);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(progress);
  process.stdout.write('\n');
  await relay.stop();
  return { backlog, batchSize, seconds, eventsPerSecond: backlog / seconds };
}

await runBenchmark('catalog-write', catalogWrite);
