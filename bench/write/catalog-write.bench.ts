/**
 * Write-side benchmark of the catalog (not a test). Runs the catalog service as a child process over
 * a fresh database, the relay in this process, and measures:
 *   1. writes/s through the catalog over HTTP (closed loop, 32 in flight);
 *   2. commit -> Kafka-ack latency (outbox created_at -> ack) at 1,000 writes/s open loop;
 *   3. relay max throughput draining a 50,000-event backlog.
 * Targets: p99 commit->ack <= 50 ms; relay >= 5,000 events/s.
 * Run: `npx tsx bench/write/catalog-write.bench.ts` (services up, LOCUS_* set or ~/.locus/env).
 * Writes bench/results/catalog-write-<time>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { freePort } from '../../test/support/ports.js';
import os from 'node:os';
import path from 'node:path';
import * as hdr from 'hdr-histogram-js';
import pg from 'pg';
import { topicNames, topicSpecs } from '../../src/contracts/topics.js';
import { readEnvFile } from '../../src/cli/services.command.js';
import { createBroker } from '../../src/messaging/kafka.js';
import { migrate, REPO_ROOT } from '../../src/migrate/migrator.js';
import { loadConfig } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { createPool } from '../../src/shared/postgres.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { runRelay, type RunningRelay } from '../../src/relay/relay.js';

const knob = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const WRITE_SECONDS = knob('BENCH_WRITE_SECONDS', 10);
const WRITE_CONCURRENCY = knob('BENCH_WRITE_CONCURRENCY', 32);
const OPEN_LOOP_RATE = knob('BENCH_OPEN_LOOP_RATE', 1_000);
const OPEN_LOOP_SECONDS = knob('BENCH_OPEN_LOOP_SECONDS', 15);
const BACKLOG = knob('BENCH_BACKLOG', 50_000);
const RELAY_BATCH = knob('BENCH_RELAY_BATCH', 1_000);

const env = { ...readEnvFile(), ...process.env };
const config = loadConfig(['LOCUS_CATALOG_DB_URL', 'LOCUS_KAFKA_BROKERS'], env);
const logger = createLogger('bench-write', 'warn');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const histogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
const ms = (h: hdr.Histogram, percentile: number) => h.getValueAtPercentile(percentile) / 1000;

let skuCounter = 0;
const productBody = () =>
  JSON.stringify({
    sku: `BENCH-${process.pid}-${++skuCounter}`,
    name: 'Bench kettle',
    description: 'A kettle written by the write benchmark',
    price: { amount: 2999, currency: 'EUR' },
    attributes: { colour: 'red', litres: 1.7 },
  });

// node:http with keep-alive costs the client less CPU than fetch, leaving more of the box to the service.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function postProduct(baseUrl: string): Promise<void> {
  const body = productBody();
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}/products`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 201
            ? resolve()
            : reject(new Error(`POST /products answered ${response.statusCode}`)),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function startCatalog(dbUrl: string, port: number, prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'catalog'], {
    env: {
      ...env,
      LOCUS_CATALOG_DB_URL: dbUrl,
      LOCUS_CATALOG_PORT: String(port),
      LOCUS_TOPIC_PREFIX: prefix,
      LOCUS_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill();
  throw new Error('catalog service did not start');
}

async function closedLoopWrites(baseUrl: string) {
  const latency = histogram();
  let writes = 0;
  const end = Date.now() + WRITE_SECONDS * 1000;
  const progress = setInterval(() => process.stdout.write(`\r  closed loop: ${writes} writes`), 1000);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITE_CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        await postProduct(baseUrl);
        latency.recordValue(Math.round((performance.now() - t0) * 1000));
        writes += 1;
      }
    }),
  );
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write('\n');
  return {
    writes,
    seconds,
    writesPerSecond: writes / seconds,
    httpP50Ms: ms(latency, 50),
    httpP99Ms: ms(latency, 99),
  };
}

/** Sends OPEN_LOOP_RATE writes/s on schedule, whether or not earlier ones have answered. */
async function openLoopHttp(baseUrl: string) {
  const latency = histogram();
  const total = OPEN_LOOP_RATE * OPEN_LOOP_SECONDS;
  const interval = 1000 / OPEN_LOOP_RATE;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  let failures = 0;
  let sent = 0;
  const progress = setInterval(() => process.stdout.write(`\r  open loop: ${sent}/${total} sent`), 1000);
  while (sent < total) {
    const due = start + sent * interval;
    const now = performance.now();
    if (due > now) {
      await sleep(Math.max(0, due - now - 0.5));
      continue;
    }
    // Latency from the scheduled time, so a stall counts against every request it delayed.
    inFlight.push(
      postProduct(baseUrl).then(
        () => latency.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000))),
        () => void (failures += 1),
      ),
    );
    sent += 1;
  }
  const sendSeconds = (performance.now() - start) / 1000;
  await Promise.all(inFlight);
  clearInterval(progress);
  process.stdout.write('\n');
  return {
    targetRate: OPEN_LOOP_RATE,
    sentRate: total / sendSeconds,
    writes: total,
    failures,
    httpP50Ms: ms(latency, 50),
    httpP99Ms: ms(latency, 99),
  };
}

/**
 * Runs a load phase in a child process, so the load generator's CPU does not delay the relay (and
 * with it the commit -> ack measurement) in this process's event loop.
 */
function runLoad<T>(mode: 'closed' | 'open', baseUrl: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename], {
      env: { ...process.env, BENCH_ROLE: 'load', BENCH_MODE: mode, BENCH_URL: baseUrl },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!chunk.toString().includes('RESULT ')) process.stdout.write(chunk);
    });
    child.on('exit', (code) => {
      const line = output.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as T);
      else reject(new Error(`load generator exited ${code}`));
    });
  });
}

async function loadProcess(): Promise<void> {
  const baseUrl = process.env.BENCH_URL!;
  const result =
    process.env.BENCH_MODE === 'closed' ? await closedLoopWrites(baseUrl) : await openLoopHttp(baseUrl);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

/** Fills the outbox with `count` product events in one statement, the relay stopped. */
async function fillBacklog(pool: pg.Pool, topic: string, count: number): Promise<void> {
  await pool.query(
    `INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, aggregate_version, envelope)
     SELECT s.id, $1, s.key, 'product', s.key, 1, jsonb_build_object(
       'specversion', '1.0', 'id', s.id, 'source', '/locus/catalog', 'type', 'locus.catalog.product.created.v1',
       'subject', s.key, 'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       'datacontenttype', 'application/json', 'aggregatetype', 'product', 'aggregateversion', 1,
       'data', jsonb_build_object('id', s.key, 'sku', 'BACKLOG-' || g, 'name', 'Backlog product ' || g,
         'description', 'filled by the write benchmark', 'categoryId', null,
         'price', jsonb_build_object('amount', g, 'currency', 'EUR'), 'attributes', '{}'::jsonb,
         'createdAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'updatedAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
     FROM (SELECT g, gen_random_uuid() AS id, gen_random_uuid()::text AS key
           FROM generate_series(1, $2) g) s`,
    [topic, count],
  );
}

async function main(): Promise<void> {
  const stamp = Date.now().toString(36);
  const dbName = `bench_catalog_${stamp}`;
  const prefix = `bench.${stamp}.`;
  const topics = topicNames(prefix);
  const admin = new pg.Client({ connectionString: config.LOCUS_CATALOG_DB_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(config.LOCUS_CATALOG_DB_URL);
  dbUrl.pathname = `/${dbName}`;
  const pool = createPool(dbUrl.toString(), { applicationName: 'locus-bench-write', max: 4 });
  await migrate(pool, 'catalog');
  const broker = createBroker({ brokers: config.LOCUS_KAFKA_BROKERS, clientId: 'bench-write', logger });
  await broker.ensureTopics(topicSpecs(topics));
  const producer = await broker.producer();
  const port = await freePort();
  let catalog: ChildProcess | undefined;
  let relay: RunningRelay | undefined;
  let source: PostgresOutboxSource | undefined;
  const commitToAck: { current: hdr.Histogram | undefined } = { current: undefined };
  const pending = async () =>
    Number(
      (await pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL')).rows[0]
        ?.n,
    );
  const startRelay = (batchSize: number, onPublished?: (events: number) => void) => {
    source = new PostgresOutboxSource({ url: dbUrl.toString() });
    relay = runRelay(source, producer, {
      logger,
      batchSize,
      onPublished: (events, ackedAt) => {
        for (const event of events) {
          if (event.createdAt)
            commitToAck.current?.recordValue(
              Math.max(1, (ackedAt.getTime() - event.createdAt.getTime()) * 1000),
            );
        }
        onPublished?.(events.length);
      },
    });
  };
  const stopRelay = async () => {
    await relay?.stop();
    await source?.close();
    relay = undefined;
    source = undefined;
  };
  try {
    catalog = await startCatalog(dbUrl.toString(), port, prefix);
    const baseUrl = `http://127.0.0.1:${port}`;
    startRelay(500);

    console.log(
      `1/3 writes/s through the catalog over HTTP (${WRITE_CONCURRENCY} in flight, ${WRITE_SECONDS} s)`,
    );
    for (let i = 0; i < 200; i++) await postProduct(baseUrl); // warm-up
    const throughput = await runLoad<Awaited<ReturnType<typeof closedLoopWrites>>>('closed', baseUrl);
    while ((await pending()) > 0) await sleep(50);

    console.log(`2/3 commit -> Kafka ack at ${OPEN_LOOP_RATE} writes/s open loop (${OPEN_LOOP_SECONDS} s)`);
    const ack = histogram();
    commitToAck.current = ack;
    const http = await runLoad<Awaited<ReturnType<typeof openLoopHttp>>>('open', baseUrl);
    while ((await pending()) > 0) await sleep(20);
    await sleep(200);
    commitToAck.current = undefined;
    const latency = {
      ...http,
      commitToAckEvents: ack.totalCount,
      commitToAckP50Ms: ms(ack, 50),
      commitToAckP99Ms: ms(ack, 99),
      commitToAckMaxMs: ack.maxValue / 1000,
    };
    await stopRelay();

    console.log(`3/3 relay draining a backlog of ${BACKLOG} events (batch ${RELAY_BATCH})`);
    await pool.query('DELETE FROM outbox');
    await fillBacklog(pool, topics.products, BACKLOG);
    let drained = 0;
    const started = performance.now();
    startRelay(RELAY_BATCH, (n) => (drained += n));
    const progress = setInterval(() => process.stdout.write(`\r  drained ${drained}/${BACKLOG}`), 500);
    while ((await pending()) > 0) await sleep(20);
    const drainSeconds = (performance.now() - started) / 1000;
    clearInterval(progress);
    process.stdout.write('\n');
    await stopRelay();
    const relayResult = {
      backlog: BACKLOG,
      batchSize: RELAY_BATCH,
      seconds: drainSeconds,
      eventsPerSecond: BACKLOG / drainSeconds,
    };

    const result = {
      benchmark: 'catalog-write',
      at: new Date().toISOString(),
      host: { cpus: os.cpus().length, node: process.version, loadAverageAtEnd: os.loadavg() },
      throughput,
      latency,
      relay: relayResult,
      targets: {
        commitToAckP99Ms: {
          target: 50,
          measured: latency.commitToAckP99Ms,
          met: latency.commitToAckP99Ms <= 50,
        },
        relayEventsPerSecond: {
          target: 5000,
          measured: relayResult.eventsPerSecond,
          met: relayResult.eventsPerSecond >= 5000,
        },
      },
    };
    console.log('\nsummary');
    console.log(
      `  writes/s (HTTP, closed loop)     ${throughput.writesPerSecond.toFixed(0)}  (HTTP p50 ${throughput.httpP50Ms} ms, p99 ${throughput.httpP99Ms} ms)`,
    );
    console.log(
      `  open loop sent rate              ${latency.sentRate.toFixed(0)} writes/s, ${latency.failures} failures`,
    );
    console.log(
      `  commit -> ack p50 / p99 / max    ${latency.commitToAckP50Ms} / ${latency.commitToAckP99Ms} / ${latency.commitToAckMaxMs} ms  (target p99 <= 50 ms: ${result.targets.commitToAckP99Ms.met ? 'met' : 'MISSED'})`,
    );
    console.log(`  HTTP p50 / p99 (open loop)       ${latency.httpP50Ms} / ${latency.httpP99Ms} ms`);
    console.log(
      `  relay drain                      ${relayResult.eventsPerSecond.toFixed(0)} events/s  (target >= 5,000: ${result.targets.relayEventsPerSecond.met ? 'met' : 'MISSED'})`,
    );
    const dir = path.join(REPO_ROOT, 'bench/results');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `catalog-write-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  written to ${path.relative(REPO_ROOT, file)}`);
  } finally {
    await stopRelay();
    catalog?.kill('SIGTERM');
    await producer.close();
    await broker.deleteTopics([topics.products, topics.categories, topics.reviews]).catch(() => undefined);
    await broker.close();
    await pool.end();
    await sleep(500);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

if (process.env.BENCH_ROLE === 'load') await loadProcess();
else await main();
