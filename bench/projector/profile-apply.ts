/**
 * Where the projector's time goes without Kafka (a profiling aid, not a benchmark with targets): builds
 * the catch-up stream of projector.bench.ts, then times decode+validate, and every SQL statement of
 * planChanges and its view statements grouped by their first line, plus COMMIT, over transactions of `--chunk` events.
 * Run: `npx tsx bench/projector/profile-apply.ts [--events 60000] [--chunk 1000] [--sync-off 1] [--explain 1]
 *   [--sustained 100000] [--setup-sql "DROP INDEX …"]` (--setup-sql runs on the fresh views first: for experiments)
 */
import { readEnvFile } from '../../src/cli/services.command.js';
import { applyChanges, planChanges } from '../../src/projector/apply-changes.js';
import { decodeMessage } from '../../src/projector/batch-plan.js';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/project-batch.js';
import { viewTables, type Change, type Tx } from '../../src/projector/projection.types.js';
import { createPool } from '../../src/shared/postgres.js';
import { seededRandom } from '../../test/projector/projector.fixtures.js';
import { createTestDatabase } from '../../test/support/isolation.js';
import { writeCatchUpBacklog } from './backlog.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const EVENTS = arg('events', 60_000);
const CHUNK = arg('chunk', 1_000);
const SYNC_OFF = arg('sync-off', 0) === 1;
/** --sustained N: apply the catch-up stream untimed, then time N events of the bench's sustained mix. */
const SUSTAINED = arg('sustained', 0);

Object.assign(process.env, { ...readEnvFile(), ...process.env });
const db = await createTestDatabase('readmodel');
const setupIndex = process.argv.indexOf('--setup-sql');
const pool = createPool(db.url, {
  applicationName: 'bench-profile',
  max: 1,
  sessionSettings: PROJECTOR_SESSION_SETTINGS,
});
try {
  const writer = writeCatchUpBacklog(EVENTS);
  const seeded = SUSTAINED > 0 ? writer.events.length : 0;
  if (SUSTAINED > 0) {
    // projector.bench.ts's sustained mix: 40% price updates, 60% new reviews, on live products
    const random = seededRandom(2);
    const products = writer.liveProductIds();
    for (let i = 0; i < SUSTAINED; i++) {
      const id = products[Math.floor(random() * products.length)]!;
      if (random() < 0.4) writer.product({ id, price: 100 + Math.floor(random() * 10_000) });
      else writer.review({ productId: id, rating: 1 + Math.floor(random() * 5) });
    }
  }
  const buffers = writer.events.map((e) => ({ key: e.key, value: Buffer.from(JSON.stringify(e.envelope)) }));

  let t = performance.now();
  const changes: Change[] = buffers.map((b, i) => {
    const decoded = decodeMessage({
      topic: 't',
      partition: 0,
      offset: String(i),
      key: b.key,
      value: b.value,
      headers: {},
      timestamp: 0,
    });
    if (!('change' in decoded)) throw new Error(decoded.reason);
    return decoded.change;
  });
  const decodeMs = performance.now() - t;
  const decoded = changes.length;

  const client = await pool.connect();
  if (setupIndex > 0) await client.query(process.argv[setupIndex + 1]!);
  for (let i = 0; i < seeded; i += 20_000) {
    await client.query('BEGIN');
    await applyChanges(client as Tx, viewTables(), changes.slice(i, Math.min(seeded, i + 20_000)));
    await client.query('COMMIT');
  }
  changes.splice(0, seeded);
  // --explain 1: plans of statements over 100 ms, with timings, go to the read store's log.
  if (arg('explain', 0) === 1)
    await client.query(
      "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 100; SET auto_explain.log_analyze = on",
    );
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
  t = performance.now();
  for (let i = 0; i < changes.length; i += CHUNK) {
    await client.query('BEGIN');
    if (SYNC_OFF) await client.query('SET LOCAL synchronous_commit = off');
    // The projector sends the view statements together; here each goes alone, so each is timed.
    const planned = await planChanges(client as Tx, viewTables(), changes.slice(i, i + CHUNK));
    for (const statement of planned.statements) await client.query(statement.text, [...statement.values]);
    await client.query('COMMIT');
  }
  const applyMs = performance.now() - t;
  client.release();
  console.log(
    JSON.stringify(
      {
        events: changes.length,
        chunk: CHUNK,
        syncOff: SYNC_OFF,
        decodePerSecond: Math.round(decoded / (decodeMs / 1000)),
        applyPerSecond: Math.round(changes.length / (applyMs / 1000)),
        statements: [...timings]
          .sort((a, b) => b[1].ms - a[1].ms)
          .map(([label, v]) => ({ label, ms: Math.round(v.ms), calls: v.calls })),
      },
      null,
      2,
    ),
  );
} finally {
  await pool.end();
  await db.drop();
}
