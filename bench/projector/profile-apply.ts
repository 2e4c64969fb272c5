/**
 * Where the projector's time goes without Kafka (a profiling aid, not a benchmark with targets): builds
 * the catch-up stream of projector.bench.ts, then times decode+validate, and every SQL statement of
 * planChanges and its view statements grouped by their first line, plus COMMIT, over transactions of `--chunk` events.
 * Run: `npx tsx bench/projector/profile-apply.ts [--events 60000] [--chunk 1000] [--sync-off 1] [--explain 1]
 *   [--sustained 100000] [--setup-sql "DROP INDEX …"]` (--setup-sql runs on the fresh views first: for experiments;
 *   --help lists every option)
 */
import type pg from 'pg';
import { applyChanges, planChanges } from '../../src/projector/apply-changes.js';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/session-settings.js';
import { viewTables, type Change, type Tx } from '../../src/projector/projection.types.js';
import { createPool } from '../../src/shared/postgres.js';
import { seededRandom } from '../../testkit/random.js';
import { parseBenchArgs } from '../lib/args.js';
import { runBenchmark, type BenchEnvironment } from '../lib/environment.js';
import { writeCatchUpBacklog } from './backlog.js';
import { decodeAll, encodeAll } from './decode.js';

const options = parseBenchArgs(
  {
    run: 'npx tsx bench/projector/profile-apply.ts [options]',
    summary: 'Times decoding and every SQL statement of applying the catch-up stream, without Kafka.',
  },
  {
    events: { type: 'number', default: 60_000, help: 'events of the catch-up stream' },
    chunk: { type: 'number', default: 1_000, help: 'events per transaction' },
    'sync-off': { type: 'number', default: 0, help: '1: synchronous_commit off in each transaction' },
    explain: { type: 'number', default: 0, help: '1: auto_explain plans of statements over 100 ms' },
    sustained: {
      type: 'number',
      default: 0,
      help: 'apply the stream untimed, then time this many events of the sustained mix',
    },
    'setup-sql': { type: 'string', help: 'SQL run on the fresh views first (experiments)' },
  },
);

/** The stream to apply; with --sustained, the catch-up stream first (applied untimed: `seeded`). */
function buildStream(): { changes: Change[]; seeded: number; decodeMs: number } {
  const writer = writeCatchUpBacklog(options.events);
  const seeded = options.sustained > 0 ? writer.events.length : 0;
  // projector.bench.ts's sustained mix: 40% price updates, 60% new reviews, on live products
  const random = seededRandom(2);
  const products = options.sustained > 0 ? writer.liveProductIds() : [];
  for (let i = 0; i < options.sustained; i++) {
    const id = products[Math.floor(random() * products.length)]!;
    if (random() < 0.4) writer.product({ id, price: 100 + Math.floor(random() * 10_000) });
    else writer.review({ productId: id, rating: 1 + Math.floor(random() * 5) });
  }
  const messages = encodeAll(writer.events);
  const started = performance.now();
  const changes = decodeAll(messages);
  return { changes, seeded, decodeMs: performance.now() - started };
}

/** Wraps the client's query so every statement's time is added up under its first line. */
function timeStatements(client: pg.PoolClient): Map<string, { ms: number; calls: number }> {
  const timings = new Map<string, { ms: number; calls: number }>();
  const query = client.query.bind(client) as (text: string, values?: unknown[]) => Promise<unknown>;
  (client as unknown as { query: typeof query }).query = async (text: string, values?: unknown[]) => {
    const label = text.trim().split('\n')[0]!.slice(0, 70);
    const started = performance.now();
    try {
      return await query(text, values);
    } finally {
      const entry = timings.get(label) ?? { ms: 0, calls: 0 };
      entry.ms += performance.now() - started;
      entry.calls += 1;
      timings.set(label, entry);
    }
  };
  return timings;
}

async function profileApply(environment: BenchEnvironment): Promise<void> {
  const db = await environment.database('readmodel');
  const pool = createPool(db.url, {
    applicationName: 'bench-profile',
    max: 1,
    sessionSettings: PROJECTOR_SESSION_SETTINGS,
  });
  environment.defer('close the pool', () => pool.end());
  const { changes, seeded, decodeMs } = buildStream();
  const decoded = changes.length;
  const client = await pool.connect();
  if (options['setup-sql'] !== undefined) await client.query(options['setup-sql']);
  for (let i = 0; i < seeded; i += 20_000) {
    await client.query('BEGIN');
    await applyChanges(client as Tx, viewTables(), changes.slice(i, Math.min(seeded, i + 20_000)));
    await client.query('COMMIT');
  }
  changes.splice(0, seeded);
  // --explain 1: plans of statements over 100 ms, with timings, go to the read store's log.
  if (options.explain === 1)
    await client.query(
      "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 100; SET auto_explain.log_analyze = on",
    );
  const timings = timeStatements(client);
  const started = performance.now();
  for (let i = 0; i < changes.length; i += options.chunk) {
    await client.query('BEGIN');
    if (options['sync-off'] === 1) await client.query('SET LOCAL synchronous_commit = off');
    // The projector sends the view statements together; here each goes alone, so each is timed.
    const planned = await planChanges(client as Tx, viewTables(), changes.slice(i, i + options.chunk));
    for (const statement of planned.statements) await client.query(statement.text, [...statement.values]);
    await client.query('COMMIT');
  }
  const applyMs = performance.now() - started;
  client.release();
  const report = {
    events: changes.length,
    chunk: options.chunk,
    syncOff: options['sync-off'] === 1,
    decodePerSecond: Math.round(decoded / (decodeMs / 1000)),
    applyPerSecond: Math.round(changes.length / (applyMs / 1000)),
    statements: [...timings]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([label, v]) => ({ label, ms: Math.round(v.ms), calls: v.calls })),
  };
  console.log(JSON.stringify(report, null, 2));
}

await runBenchmark('profile-apply', profileApply);
