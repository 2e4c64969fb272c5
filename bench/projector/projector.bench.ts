/**
 * Projector benchmark (not a test). Over a fresh read-store database and fresh topics, measures:
 *   1. catch-up: a backlog of ~200,000 pre-produced events replayed by `locus projector run` (a child
 *      process, as in production) → events/s (target ≥ 25,000);
 *   2. set-based batches vs one statement set per event, same 20,000 events, same transactions
 *      (target ≥ 5×);
 *   3. sustained 10,000 events/s for 60 s with the projector at the head → lag per second (flat?);
 *   4. the projector process's peak RSS (VmHWM; target ≤ 200 MB).
 * Run: `[PROJECTOR_NODE_ARGS='--max-semi-space-size=2'] [LOCUS_PROJECTOR_MAX_BATCH_EVENTS=20000] locus bench projector --
 * [--backlog 200000] [--sustain-seconds 60] [--rate 10000] [--compare 20000]` (`-- --help` lists them)
 * (services up; LOCUS_* set or ~/.locus/env). Writes bench/results/projector-<time>.json,
 * projector-latest.md and projector-latest.svg.
 */
import os from 'node:os';
import { loadConfig } from '../../src/shared/config.js';
import { createPool } from '../../src/shared/postgres.js';
import { PROCESS_NODE_FLAGS } from '../../src/supervisor/process-supervisor.js';
import { seededRandom } from '../../testkit/random.js';
import { parseBenchArgs } from '../lib/args.js';
import { compileLocus } from '../lib/compiled.js';
import { runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import { machineDescription } from '../lib/results.js';
import { writeCatchUpBacklog } from './backlog.js';
import { compareBatching } from './projector.compare.js';
import { measureCatchUp, measureSustained, type ProjectorRig } from './projector.phases.js';
import { produceAll } from './projector.positions.js';
import { writeReport, type ProjectorResults } from './projector.report.js';

const options = parseBenchArgs(
  {
    run: 'locus bench projector -- [options]',
    summary:
      'Catch-up of a backlog by `locus projector run`, set-based vs per-event statements, lag at a sustained rate, peak RSS. PROJECTOR_NODE_ARGS sets the projector’s Node flags (default: those locus starts it with).',
  },
  {
    backlog: { type: 'number', default: 200_000, help: 'events in the catch-up backlog' },
    'sustain-seconds': { type: 'number', default: 60, help: 'length of the sustained phase' },
    rate: { type: 'number', default: 10_000, help: 'events/s produced in the sustained phase' },
    compare: { type: 'number', default: 20_000, help: 'events applied batched and per event' },
  },
);
/**
 * Node/V8 flags for the projector process only (default: the heap caps locus starts it with,
 * PROCESS_NODE_FLAGS.projector; `PROJECTOR_NODE_ARGS=''` for V8's defaults); recorded in the results.
 */
const PROJECTOR_NODE_FLAGS = process.env.PROJECTOR_NODE_ARGS ?? PROCESS_NODE_FLAGS.projector!.join(' ');

async function projectorBench(environment: BenchEnvironment): Promise<void> {
  const config = loadConfig(['LOCUS_READ_DB_URL', 'LOCUS_KAFKA_BROKERS', 'LOCUS_PROJECTOR_MAX_BATCH_EVENTS']);
  const results: ProjectorResults = {
    startedAt: new Date().toISOString(),
    machine: machineDescription(),
    loadAverageAtStart: os.loadavg().map((n) => Number(n.toFixed(2))),
    backlog: options.backlog,
    projectorNodeFlags: PROJECTOR_NODE_FLAGS,
    projectorRuns: compileLocus(),
    maxEventsPerTransaction: Number(config.LOCUS_PROJECTOR_MAX_BATCH_EVENTS),
  };
  const rig = await prepare(environment);

  // ---- 1. catch-up of a backlog
  const random = seededRandom(1);
  const writer = writeCatchUpBacklog(options.backlog, random);
  const backlog = writer.events.splice(0);
  console.log(`producing a backlog of ${backlog.length} events`);
  results.produceRate = await produceAll(rig.producer, rig.topics, backlog, 'produce');
  const projector = await rig.startProjector();
  results.catchUp = await measureCatchUp(projector, projector.spawnedAt);
  console.log('catch-up:', results.catchUp);

  // ---- 3. sustained rate at the head
  console.log(`sustaining ${options.rate} events/s for ${options['sustain-seconds']} s`);
  const sustained = await measureSustained(
    projector,
    writer,
    random,
    options.rate,
    options['sustain-seconds'],
  );
  results.sustained = sustained;
  console.log('sustained:', { ...sustained, lagSamples: undefined });
  results.peakRssMb = { value: sustained.peakRssMb, target: 200 };
  await rig.stopProjector();

  // ---- 2. set-based vs per-event, same changes, same transactions
  results.batchedVsPerEvent = await compareBatching(backlog.slice(0, options.compare));
  console.log('batched vs per-event:', results.batchedVsPerEvent);
  results.finishedAt = new Date().toISOString();
  results.loadAverageAtEnd = os.loadavg().map((n) => Number(n.toFixed(2)));
  await writeReport(results);
}

/** A fresh read store and topics, a producer, and the projector process to start over them. */
async function prepare(environment: BenchEnvironment) {
  const db = await environment.database('readmodel');
  const pool = createPool(db.url, { applicationName: 'bench-projector', max: 4 });
  environment.defer('close the read-store pool', () => pool.end());
  const consumer = `bench-projector-${environment.stamp}`;
  const { prefix, topics } = await environment.topics({ create: true, projectorGroup: consumer });
  const broker = environment.broker();
  const producer = await broker.producer();
  environment.defer('close the producer', () => producer.close());
  const supervisor = environment.processes({
    ...db.env,
    LOCUS_TOPIC_PREFIX: prefix,
    LOCUS_PROJECTOR_GROUP: consumer,
    LOCUS_PROJECTOR_PORT: '0',
  });
  const startProjector = async (): Promise<ProjectorRig & { spawnedAt: number }> => {
    const nodeArgs = PROJECTOR_NODE_FLAGS.split(' ').filter(Boolean);
    await supervisor.start({ name: 'projector', args: ['projector', 'run'], nodeArgs });
    const spawnedAt = performance.now();
    return { broker, producer, topics, pool, consumer, pid: supervisor.pid('projector')!, spawnedAt };
  };
  return { producer, topics, startProjector, stopProjector: () => supervisor.stop('projector') };
}

await runBenchmark('projector', projectorBench);
