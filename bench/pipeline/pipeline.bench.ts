/**
 * Pipeline benchmark (not a test): end-to-end freshness of the whole write → outbox → relay → Kafka →
 * projector → read primary → streaming replica path, with the real locus processes.
 *
 * In an environment of its own (fresh catalog and read-store databases, its own reviews database,
 * topic prefix, consumer group and ports 38080–38084) it starts catalog, reviews, relay, projector
 * and query with the ProcessSupervisor, seeds a few categories and products, then drives writes OPEN
 * LOOP (latency from the intended send time) in rate steps:
 *   - product price updates (PATCH /products/{id}) through the catalog service, at each step's rate;
 *   - review creates (POST /products/{id}/reviews) through the reviews service at a modest fixed rate
 *     (its FerretDB store sustains only ~100–200 writes/s here), reported separately.
 * Each write answers `Locus-Consistency-Token: <type>:<id>:<version>`; one connection to the REPLICA
 * polls `applied_versions` for every outstanding token (`= ANY($1)`, every few ms) and notes when
 * each version becomes visible. Freshness = visible on the replica − write response received.
 * Every second it also scrapes the projector's and the relay's /metrics (events applied, lag,
 * commit → ack histogram).
 *
 * Goal (projector issue): at 1,000 events/s, freshness p50 ≤ 30 ms and p99 ≤ 150 ms.
 *
 * Run: `npm run bench:pipeline -- [--rates 100,500,1000] [--seconds 30] [--review-rate 50] [--quick]`
 * or `npx tsx bench/pipeline/pipeline.bench.ts …` (services up; LOCUS_* set or ~/.locus/env).
 * Writes bench/results/pipeline-<time>.json, pipeline-latest.md and pipeline-latest.svg.
 */
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import type { TopLevelSpec } from 'vega-lite';
import { LOCUS_HOME, readEnvFile } from '../../src/cli/services.command.js';
import { topicNames } from '../../src/contracts/topics.js';
import { createBroker } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueName,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../test/support/isolation.js';
import { writeChartSvg } from '../lib/chart.js';
import { compileLocus } from '../lib/compiled.js';
import { runOpenLoop, type OpenLoopResult } from '../lib/open-loop.js';
import { localServicePids, treeCpuSecondsOf } from '../lib/process-sampler.js';
import { machineDescription, markdownTable, RESULTS_DIR, writeResults } from '../lib/results.js';
import { round, type LatencySummary } from '../lib/stats.js';

// ───────────────────────────── settings ─────────────────────────────

const { values: flags } = parseArgs({
  options: {
    rates: { type: 'string' },
    seconds: { type: 'string' },
    'review-rate': { type: 'string' },
    products: { type: 'string', default: '200' },
    categories: { type: 'string', default: '4' },
    'poll-ms': { type: 'string', default: '5' },
    'drain-seconds': { type: 'string', default: '30' },
    'port-base': { type: 'string', default: '38080' },
    'late-seconds': { type: 'string', default: '5' },
    'max-in-flight': { type: 'string', default: '1000' },
    quick: { type: 'boolean', default: false },
  },
});
const QUICK = flags.quick ?? false;
const RATES = (flags.rates ?? (QUICK ? '100,300' : '100,500,1000')).split(',').map(Number);
const STEP_SECONDS = Number(flags.seconds ?? (QUICK ? 5 : 30));
const REVIEW_RATE = Number(flags['review-rate'] ?? (QUICK ? 20 : 50));
const PRODUCTS = Number(flags.products);
const CATEGORIES = Number(flags.categories);
const POLL_MS = Number(flags['poll-ms']);
const DRAIN_SECONDS = Number(flags['drain-seconds']);
const PORT_BASE = Number(flags['port-base']);
const LATE_SECONDS = Number(flags['late-seconds']);
/** Unanswered writes of a kind beyond which the next due write is shed (see the step loop). */
const MAX_IN_FLIGHT: Record<'catalog' | 'reviews', number> = {
  catalog: Number(flags['max-in-flight']),
  reviews: Math.max(50, Math.floor(Number(flags['max-in-flight']) / 4)),
};
const GOAL = { rate: 1_000, p50Ms: 30, p99Ms: 150 };

if (RATES.some((r) => !(r > 0)) || !(STEP_SECONDS > 0) || !(REVIEW_RATE >= 0) || !(PRODUCTS > 0)) {
  throw new Error('--rates, --seconds, --products must be positive numbers (--review-rate ≥ 0)');
}

// Addresses from `services up` unless the caller set its own (bench/index.ts does the same).
Object.assign(process.env, { ...readEnvFile(), ...process.env });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** One clock for writes and the poller, in ms. */
const now = () => performance.now();

// ───────────────────────────── HTTP client ─────────────────────────────

// node:http with keep-alive costs this process less CPU than fetch, leaving more of the box to locus.
const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

interface HttpAnswer {
  status: number;
  token: string | undefined;
  body: string;
}

function send(method: string, url: string, body?: unknown): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method,
        agent,
        timeout: 60_000,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const token = response.headers['locus-consistency-token'];
          resolve({
            status: response.statusCode ?? 0,
            token: Array.isArray(token) ? token[0] : token,
            body: Buffer.concat(chunks).toString(),
          });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out`)));
    request.on('error', reject);
    request.end(payload);
  });
}

async function sendOk(method: string, url: string, body?: unknown): Promise<HttpAnswer> {
  const answer = await send(method, url, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${url} → ${answer.status} ${answer.body.slice(0, 300)}`);
  return answer;
}

// ───────────────────────────── freshness tracking ─────────────────────────────

type Kind = 'catalog' | 'reviews';

interface Written {
  kind: Kind;
  step: number;
  version: number;
  respondedAt: number;
}

interface Seen {
  kind: Kind;
  step: number;
  respondedAt: number;
  freshnessMs: number;
  /**
   * Write response → start of the projector transaction that applied it on the primary
   * (applied_versions.applied_at, same machine's clock); known only when the replica shows exactly
   * this version. The rest of the freshness is that transaction, its commit, WAL replay and polling.
   */
  toPrimaryMs: number | null;
}

/**
 * Follows consistency tokens to the replica. One connection; every `pollMs` it asks applied_versions
 * for the aggregates with outstanding versions (`= ANY($1)` per type) and resolves every version at
 * or below the one the replica shows. The time noted is when the poll was sent: the replica's
 * snapshot is taken just after, so visibility is known to within one poll interval + query time.
 */
class ReplicaFreshnessPoller {
  private readonly outstanding = new Map<string, { type: string; id: string; writes: Written[] }>();
  readonly seen: Seen[] = [];
  readonly pollDurations: number[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: pg.Client,
    private readonly pollMs: number,
  ) {}

  get pending(): number {
    let n = 0;
    for (const entry of this.outstanding.values()) n += entry.writes.length;
    return n;
  }

  add(token: string, kind: Kind, step: number, respondedAt: number): void {
    const parts = token.split(':');
    const version = Number(parts.pop());
    const type = parts.shift()!;
    const id = parts.join(':');
    const key = `${type}:${id}`;
    let entry = this.outstanding.get(key);
    if (!entry) this.outstanding.set(key, (entry = { type, id, writes: [] }));
    entry.writes.push({ kind, step, version, respondedAt });
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const began = now();
        if (this.outstanding.size > 0) await this.pollOnce(began);
        const wait = this.pollMs - (now() - began);
        if (wait > 0) await sleep(wait);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async pollOnce(sentAt: number): Promise<void> {
    const byType = new Map<string, string[]>();
    for (const { type, id } of this.outstanding.values()) {
      const ids = byType.get(type) ?? [];
      ids.push(id);
      byType.set(type, ids);
    }
    const types = [...byType.keys()];
    // (type, id) is the primary key: one ANY per type keeps the lookups on the index.
    const { rows } = await this.client.query<{
      t: string;
      id: string;
      version: string;
      applied_ms: number;
    }>(
      `SELECT aggregate_type AS t, aggregate_id::text AS id, version,
              (extract(epoch FROM applied_at) * 1000)::float8 AS applied_ms
         FROM applied_versions
        WHERE aggregate_type = $1 AND aggregate_id = ANY($2::uuid[])
           OR aggregate_type = $3 AND aggregate_id = ANY($4::uuid[])`,
      [types[0], byType.get(types[0]!) ?? [], types[1] ?? null, byType.get(types[1]!) ?? []],
    );
    this.pollDurations.push(now() - sentAt);
    for (const row of rows) {
      const key = `${row.t}:${row.id}`;
      const entry = this.outstanding.get(key);
      if (!entry) continue;
      const visible = Number(row.version);
      const remaining: Written[] = [];
      for (const write of entry.writes) {
        if (write.version <= visible) {
          this.seen.push({
            kind: write.kind,
            step: write.step,
            respondedAt: write.respondedAt,
            freshnessMs: sentAt - write.respondedAt,
            toPrimaryMs:
              write.version === visible
                ? row.applied_ms - (performance.timeOrigin + write.respondedAt)
                : null,
          });
        } else remaining.push(write);
      }
      if (remaining.length === 0) this.outstanding.delete(key);
      else entry.writes = remaining;
    }
  }

  /** Writes never seen, by kind and step (after the final drain: lost or too slow). */
  unseen(): Written[] {
    return [...this.outstanding.values()].flatMap((entry) => entry.writes);
  }
}

// ───────────────────────────── /metrics scraping ─────────────────────────────

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[label[1]!] = label[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

const sumOf = (samples: Sample[], name: string) =>
  samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);

/** Cumulative histogram buckets by source: le → count, plus sum and count. */
type HistogramSnapshot = Map<string, { buckets: Map<number, number>; sum: number; count: number }>;

function histogramOf(samples: Sample[], name: string, by: string): HistogramSnapshot {
  const result: HistogramSnapshot = new Map();
  const of = (key: string) => {
    let entry = result.get(key);
    if (!entry) result.set(key, (entry = { buckets: new Map(), sum: 0, count: 0 }));
    return entry;
  };
  for (const s of samples) {
    const key = s.labels[by] ?? '';
    if (s.name === `${name}_bucket`) of(key).buckets.set(Number(s.labels.le), s.value);
    else if (s.name === `${name}_sum`) of(key).sum = s.value;
    else if (s.name === `${name}_count`) of(key).count = s.value;
  }
  return result;
}

interface BucketSummary {
  count: number;
  meanMs: number | null;
  /** Upper bound of the bucket holding the percentile (histograms only know buckets). */
  p50AtMostMs: number | null;
  p99AtMostMs: number | null;
}

function histogramDelta(before: HistogramSnapshot, after: HistogramSnapshot): Record<string, BucketSummary> {
  const result: Record<string, BucketSummary> = {};
  for (const [source, end] of after) {
    const start = before.get(source);
    const count = end.count - (start?.count ?? 0);
    const sum = end.sum - (start?.sum ?? 0);
    const bounds = [...end.buckets.keys()].sort((a, b) => a - b);
    const at = (p: number) => {
      if (count === 0) return null;
      for (const le of bounds) {
        const inBucket = (end.buckets.get(le) ?? 0) - (start?.buckets.get(le) ?? 0);
        if (inBucket >= p * count) return le === Infinity ? Infinity : le * 1000;
      }
      return null;
    };
    result[source] = {
      count,
      meanMs: count ? round((sum / count) * 1000) : null,
      p50AtMostMs: at(0.5),
      p99AtMostMs: at(0.99),
    };
  }
  return result;
}

interface MetricsPoint {
  t: number;
  eventsApplied: number;
  lag: number;
  relayPublished: number;
  relayPending: number;
}

// ───────────────────────────── figures ─────────────────────────────

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summarize(values: number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted[sorted.length - 1] ?? NaN),
    mean: round(mean),
  };
}

const fmt = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined || Number.isNaN(value)
    ? '–'
    : value === Infinity
      ? '∞'
      : value.toFixed(digits);

// ───────────────────────────── main ─────────────────────────────

const PROCESSES = ['catalog', 'reviews', 'relay', 'projector', 'query'] as const;
type ProcessName = (typeof PROCESSES)[number];

async function main(): Promise<void> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const ports: Record<ProcessName, number> = {
    query: PORT_BASE,
    catalog: PORT_BASE + 1,
    reviews: PORT_BASE + 2,
    projector: PORT_BASE + 3,
    relay: PORT_BASE + 4,
  };
  const url = (name: ProcessName) => `http://127.0.0.1:${ports[name]}`;
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const mongo = uniqueMongoUrl();
  const group = uniqueName('bench_projector');
  const logDir = path.join(LOCUS_HOME, 'logs', `bench-pipeline-${stamp}`);
  const logger = createLogger('bench-pipeline', 'warn');

  let catalogDb: TestDatabase | undefined;
  let readDb: TestDatabase | undefined;
  let replica: pg.Client | undefined;
  let poller: ReplicaFreshnessPoller | undefined;
  let scraper: ReturnType<typeof setInterval> | undefined;
  let progress: ReturnType<typeof setInterval> | undefined;
  let supervisor: ProcessSupervisor | undefined;
  let cleanedUp = false;

  const cleanup = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    clearInterval(scraper);
    clearInterval(progress);
    await poller?.stop().catch(() => undefined);
    await replica?.end().catch(() => undefined);
    console.log('\n▸ stopping locus processes and dropping what the benchmark created');
    await supervisor?.stopAll();
    agent.destroy();
    const broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      clientId: 'bench-pipeline-cleanup',
      logger,
    });
    await broker
      .deleteTopics([topics.products, topics.categories, topics.reviews])
      .catch((e: unknown) => console.warn(`  could not delete topics: ${String(e)}`));
    await broker.close().catch(() => undefined);
    const client = new MongoClient(mongo.url);
    await client
      .db(mongo.database)
      .dropDatabase()
      .catch((e: unknown) => console.warn(`  could not drop ${mongo.database}: ${String(e)}`));
    await client.close().catch(() => undefined);
    await Promise.all([catalogDb?.drop(), readDb?.drop()]).catch((e: unknown) =>
      console.warn(`  could not drop databases: ${String(e)}`),
    );
  };
  const onSignal = (code: number) => () => {
    console.log('\n▸ interrupted');
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', onSignal(130));
  process.once('SIGTERM', onSignal(143));

  try {
    const processesRun = compileLocus();
    const loadAverageAtStart = os.loadavg().map((l) => round(l));
    console.log(`▸ machine: ${machineDescription()}; load average ${loadAverageAtStart.join(', ')}`);
    console.log(
      `▸ plan: catalog ${RATES.join(', ')} writes/s × ${STEP_SECONDS} s, reviews ${REVIEW_RATE} writes/s alongside; replica polled every ${POLL_MS} ms`,
    );
    console.log('▸ creating fresh catalog and read-store databases');
    [catalogDb, readDb] = await Promise.all([createTestDatabase('catalog'), createTestDatabase('readmodel')]);

    supervisor = new ProcessSupervisor(logDir, {
      ...process.env,
      LOCUS_CATALOG_DB_URL: catalogDb.url,
      LOCUS_READ_DB_URL: readDb.url,
      LOCUS_READ_REPLICA_URL: readDb.replicaUrl,
      LOCUS_MONGO_URL: mongo.url,
      LOCUS_TOPIC_PREFIX: prefix,
      LOCUS_PROJECTOR_GROUP: group,
      LOCUS_CATALOG_URL: url('catalog'),
      LOCUS_REVIEWS_URL: url('reviews'),
      LOCUS_QUERY_PORT: String(ports.query),
      LOCUS_CATALOG_PORT: String(ports.catalog),
      LOCUS_REVIEWS_PORT: String(ports.reviews),
      LOCUS_PROJECTOR_PORT: String(ports.projector),
      LOCUS_RELAY_PORT: String(ports.relay),
      LOCUS_LOG_LEVEL: 'warn',
    });
    for (const name of PROCESSES) {
      console.log(`▸ starting ${name} on port ${ports[name]} (log ${supervisor.logFile(name)})`);
      await supervisor.start({ name, args: [name], healthUrl: `${url(name)}/health` });
    }
    const pids = Object.fromEntries(PROCESSES.map((name) => [name, supervisor!.pid(name)!])) as Record<
      ProcessName,
      number
    >;
    // What each step costs: locus's processes, then the services (whole process trees) when they run
    // on this machine, so the report shows where the two cores went.
    const measured: [string, number][] = [
      ...PROCESSES.map((name): [string, number] => [name, pids[name]]),
      ...Object.entries(localServicePids()),
    ];

    replica = new pg.Client({ connectionString: readDb.replicaUrl, application_name: 'locus-bench-poller' });
    await replica.connect();
    poller = new ReplicaFreshnessPoller(replica, POLL_MS);
    poller.start();

    // ── seed ──
    console.log(`▸ seeding ${CATEGORIES} categories and ${PRODUCTS} products through the catalog API`);
    const categoryIds: string[] = [];
    for (let i = 0; i < CATEGORIES; i++) {
      const answer = await sendOk('POST', `${url('catalog')}/categories`, {
        name: `Bench category ${i}`,
        description: 'made by the pipeline benchmark',
      });
      categoryIds.push((JSON.parse(answer.body) as { id: string }).id);
      poller.add(answer.token!, 'catalog', -1, now());
    }
    const productIds: string[] = [];
    const prices: number[] = [];
    for (let start = 0; start < PRODUCTS; start += 16) {
      const batch = Array.from({ length: Math.min(16, PRODUCTS - start) }, (_, k) => start + k);
      await Promise.all(
        batch.map(async (i) => {
          const answer = await sendOk('POST', `${url('catalog')}/products`, {
            sku: `PIPE-${i}`,
            name: `Pipeline kettle ${i}`,
            description: 'a product the pipeline benchmark reprices',
            categoryId: categoryIds[i % CATEGORIES],
            price: { amount: 1000 + i, currency: 'EUR' },
            attributes: { colour: 'red' },
          });
          productIds[i] = (JSON.parse(answer.body) as { id: string }).id;
          prices[i] = 1000 + i;
          poller!.add(answer.token!, 'catalog', -1, now());
        }),
      );
    }
    const seedDeadline = now() + 120_000;
    while (poller.pending > 0) {
      if (now() > seedDeadline) throw new Error(`seed not visible on the replica: ${poller.pending} left`);
      await sleep(50);
    }
    const seedFreshness = summarize(poller.seen.map((s) => s.freshnessMs));
    console.log(`  seed visible on the replica (freshness p50 ${seedFreshness.p50} ms)`);
    poller.seen.length = 0;
    poller.pollDurations.length = 0;

    // ── scraping ──
    const t0 = now();
    const metricsSeries: MetricsPoint[] = [];
    const scrape = async () => {
      const [projectorText, relayText] = await Promise.all([
        fetch(`${url('projector')}/metrics`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text()),
        fetch(`${url('relay')}/metrics`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text()),
      ]);
      return { projector: parsePrometheus(projectorText), relay: parsePrometheus(relayText) };
    };
    /** The relay's commit → ack histogram and the projector's batch totals, for per-step deltas. */
    const histograms = async () => {
      const { relay, projector } = await scrape();
      return {
        commitToAck: histogramOf(relay, 'locus_relay_commit_to_ack_seconds', 'source'),
        batches: {
          count: sumOf(projector, 'locus_projector_batch_duration_seconds_count'),
          seconds: sumOf(projector, 'locus_projector_batch_duration_seconds_sum'),
          events: sumOf(projector, 'locus_projector_batch_size_sum'),
        },
      };
    };
    let scraping = false;
    scraper = setInterval(() => {
      if (scraping) return;
      scraping = true;
      const t = (now() - t0) / 1000;
      void scrape()
        .then(({ projector, relay }) =>
          metricsSeries.push({
            t: round(t, 2),
            eventsApplied: sumOf(projector, 'locus_projector_events_applied_total'),
            lag: sumOf(projector, 'locus_projector_consumer_lag'),
            relayPublished: sumOf(relay, 'locus_relay_events_published_total'),
            relayPending: sumOf(relay, 'locus_relay_pending_events'),
          }),
        )
        .catch(() => undefined)
        .finally(() => (scraping = false));
    }, 1_000);

    // ── steps ──
    interface StepResult {
      step: number;
      catalogRate: number;
      reviewRate: number;
      startS: number;
      endS: number;
      catalog: OpenLoopResult;
      reviews: OpenLoopResult | null;
      errors: Record<string, number>;
      /** Writes shed: due while MAX_IN_FLIGHT were unanswered, or LATE_SECONDS after the step's end. */
      notSent: Record<Kind, number>;
      loadAverageAtEnd: number[];
      relayCommitToAck: Record<string, BucketSummary>;
      /** The projector's committed batches in the step: how many, events per batch, mean duration. */
      projectorBatches: { count: number; eventsPerBatch: number; meanMs: number };
      eventLoopDelayP99Ms: number;
      cpuSecondsPerSecond: Record<string, number>;
      drainedS: number;
    }
    const steps: StepResult[] = [];
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    // Failed writes by step and reason (`PATCH 503 LOCUS_…`): counted, not sampled, for the report.
    const errorCounts = new Map<number, Record<string, number>>();
    const noteError = (step: number, reason: string) => {
      const counts = errorCounts.get(step) ?? {};
      counts[reason] = (counts[reason] ?? 0) + 1;
      errorCounts.set(step, counts);
    };
    const reasonOf = (what: string, answer: HttpAnswer) => {
      let code = '';
      try {
        code = (JSON.parse(answer.body) as { code?: string }).code ?? '';
      } catch {
        // not a locus error body
      }
      return `${what} ${answer.status} ${code}`.trim();
    };

    for (const [index, rate] of RATES.entries()) {
      console.log(
        `\n▸ step ${index + 1}/${RATES.length}: catalog ${rate} writes/s + reviews ${REVIEW_RATE} writes/s for ${STEP_SECONDS} s`,
      );
      const before = await histograms();
      const cpuBefore = Object.fromEntries(measured.map(([n, pid]) => [n, treeCpuSecondsOf(pid)]));
      const selfCpuBefore = process.cpuUsage();
      loopDelay.reset();
      loopDelay.enable();
      const startS = (now() - t0) / 1000;
      let catalogSent = 0;
      let reviewsSent = 0;
      progress = setInterval(() => {
        const last = metricsSeries.at(-1);
        const recent = metricsSeries.at(-2);
        const applied =
          last && recent ? (last.eventsApplied - recent.eventsApplied) / (last.t - recent.t) : 0;
        console.log(
          `  t=${((now() - t0) / 1000).toFixed(0)}s sent catalog ${catalogSent} reviews ${reviewsSent} | awaiting replica ${poller!.pending} | projector ${applied.toFixed(0)} ev/s, lag ${last?.lag ?? '?'} | relay pending ${last?.relayPending ?? '?'}`,
        );
      }, 2_000);

      // A machine too slow for the rate must not turn the step into a queue without end: a write
      // due while MAX_IN_FLIGHT of its kind are unanswered is not sent (shed, and counted), and the
      // step stops sending LATE_SECONDS after its end. runOpenLoop's own cap is never reached, so it
      // keeps its schedule (and its Promise.race over the pending set stays off the hot path).
      const sendUntil = now() + (STEP_SECONDS + LATE_SECONDS) * 1000;
      const notSent = { catalog: 0, reviews: 0 };
      const inFlight = { catalog: 0, reviews: 0 };
      const admit = (kind: Kind) => {
        if (now() <= sendUntil && inFlight[kind] < MAX_IN_FLIGHT[kind]) {
          inFlight[kind] += 1;
          return () => (inFlight[kind] -= 1);
        }
        notSent[kind] += 1;
        throw new Error('not sent: behind schedule or too many in flight');
      };
      const patch = async (i: number) => {
        const release = admit('catalog');
        const p = i % PRODUCTS;
        prices[p] = 1000 + ((prices[p]! + 1) % 100_000);
        const answer = await send('PATCH', `${url('catalog')}/products/${productIds[p]}`, {
          price: { amount: prices[p], currency: 'EUR' },
        })
          .finally(release)
          .catch((e: unknown) => {
            noteError(index, `transport: ${String(e).slice(0, 80)}`);
            throw e;
          });
        if (answer.status !== 200 || !answer.token) {
          noteError(index, reasonOf('PATCH', answer));
          throw new Error(`PATCH answered ${answer.status}`);
        }
        poller!.add(answer.token, 'catalog', index, now());
      };
      const review = async (i: number) => {
        const release = admit('reviews');
        const answer = await send(
          'POST',
          `${url('reviews')}/products/${productIds[(i * 7) % PRODUCTS]}/reviews`,
          {
            author: `bench${i % 97}`,
            rating: 1 + (i % 5),
            title: 'Pipeline review',
            body: 'Written by the pipeline benchmark to measure freshness end to end.',
          },
        )
          .finally(release)
          .catch((e: unknown) => {
            noteError(index, `transport: ${String(e).slice(0, 80)}`);
            throw e;
          });
        if (answer.status !== 201 || !answer.token) {
          noteError(index, reasonOf('POST review', answer));
          throw new Error(`POST review answered ${answer.status}`);
        }
        poller!.add(answer.token, 'reviews', index, now());
      };
      const [catalog, reviews] = await Promise.all([
        runOpenLoop(rate, STEP_SECONDS * 1000, patch, {
          onProgress: (n) => (catalogSent = n),
          maxInFlight: 1_000_000,
        }),
        REVIEW_RATE > 0
          ? runOpenLoop(REVIEW_RATE, STEP_SECONDS * 1000, review, {
              onProgress: (n) => (reviewsSent = n),
              maxInFlight: 1_000_000,
            })
          : Promise.resolve(null),
      ]);
      const endS = (now() - t0) / 1000;
      loopDelay.disable();
      const seconds = endS - startS;
      const used = ([n, pid]: [string, number]) =>
        [n, round((treeCpuSecondsOf(pid) - cpuBefore[n]!) / seconds)] as const;
      const self = process.cpuUsage(selfCpuBefore);
      // In the report's column order: locus's processes, this benchmark, then the services.
      const cpu: Record<string, number> = Object.fromEntries([
        ...measured.slice(0, PROCESSES.length).map(used),
        ['benchmark', round((self.user + self.system) / 1e6 / seconds)] as const,
        ...measured.slice(PROCESSES.length).map(used),
      ]);

      // Let the pipeline drain so the next step starts clean; freshness keeps counting meanwhile.
      const drainDeadline = now() + DRAIN_SECONDS * 1000;
      while (poller.pending > 0 && now() < drainDeadline) await sleep(20);
      const drainedS = round((now() - t0) / 1000 - endS);
      clearInterval(progress);
      const after = await histograms();
      const batches = after.batches.count - before.batches.count;
      const result: StepResult = {
        step: index,
        catalogRate: rate,
        reviewRate: REVIEW_RATE,
        startS: round(startS),
        endS: round(endS),
        catalog,
        reviews,
        errors: errorCounts.get(index) ?? {},
        notSent,
        loadAverageAtEnd: os.loadavg().map((l) => round(l)),
        relayCommitToAck: histogramDelta(before.commitToAck, after.commitToAck),
        projectorBatches: {
          count: batches,
          eventsPerBatch: batches ? round((after.batches.events - before.batches.events) / batches) : NaN,
          meanMs: batches ? round(((after.batches.seconds - before.batches.seconds) / batches) * 1000) : NaN,
        },
        eventLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6),
        cpuSecondsPerSecond: cpu,
        drainedS,
      };
      steps.push(result);
      const fresh = summarize(
        poller.seen.filter((s) => s.kind === 'catalog' && s.step === index).map((s) => s.freshnessMs),
      );
      console.log(
        `  done: catalog ${catalog.latency.count} ok (${(catalog.latency.count / (endS - startS)).toFixed(0)}/s), ${catalog.errors - notSent.catalog} failed, ${notSent.catalog} shed; reviews ${reviews?.latency.count ?? 0} ok, ${(reviews?.errors ?? 0) - notSent.reviews} failed, ${notSent.reviews} shed; catalog, write p50 ${catalog.latency.p50} p99 ${catalog.latency.p99} ms; freshness p50 ${fresh.p50} p99 ${fresh.p99} max ${fresh.max} ms; drained ${drainedS} s after the step${poller.pending ? `, ${poller.pending} STILL NOT VISIBLE` : ''}`,
      );
    }
    clearInterval(scraper);
    scraper = undefined;
    await poller.stop();

    // ── figures ──
    const unseen = poller.unseen();
    const perStep = steps.map((s) => {
      const of = (kind: Kind) => poller!.seen.filter((x) => x.kind === kind && x.step === s.step);
      const catalogFresh = summarize(of('catalog').map((x) => x.freshnessMs));
      const reviewFresh = summarize(of('reviews').map((x) => x.freshnessMs));
      const points = metricsSeries.filter((p) => p.t >= s.startS && p.t <= s.endS);
      const first = points[0];
      const last = points.at(-1);
      const projectorEventsPerSecond =
        first && last && last.t > first.t
          ? (last.eventsApplied - first.eventsApplied) / (last.t - first.t)
          : NaN;
      return {
        ...s,
        catalogFreshnessMs: catalogFresh,
        catalogToPrimaryMs: summarize(
          of('catalog').flatMap((x) => (x.toPrimaryMs === null ? [] : [x.toPrimaryMs])),
        ),
        reviewFreshnessMs: reviewFresh,
        notVisible: {
          catalog: unseen.filter((w) => w.kind === 'catalog' && w.step === s.step).length,
          reviews: unseen.filter((w) => w.kind === 'reviews' && w.step === s.step).length,
        },
        projectorEventsPerSecond: round(projectorEventsPerSecond),
        projectorLagMax: Math.max(0, ...points.map((p) => p.lag)),
        projectorLagMean: round(points.reduce((a, p) => a + p.lag, 0) / Math.max(1, points.length)),
      };
    });

    // Per second of the run: freshness of the writes answered in that second, scraped metrics.
    const lastSecond = Math.ceil(Math.max(...metricsSeries.map((p) => p.t), ...steps.map((s) => s.endS)));
    const series = Array.from({ length: lastSecond + 1 }, (_, second) => {
      const inSecond = (kind: Kind) =>
        poller!.seen
          .filter((x) => x.kind === kind && Math.floor((x.respondedAt - t0) / 1000) === second)
          .map((x) => x.freshnessMs)
          .sort((a, b) => a - b);
      const catalog = inSecond('catalog');
      const reviews = inSecond('reviews');
      const point = metricsSeries.find((p) => Math.round(p.t) === second);
      const previous = metricsSeries.find((p) => Math.round(p.t) === second - 1);
      const step = steps.find((s) => second >= Math.floor(s.startS) && second < Math.ceil(s.endS));
      return {
        second,
        stepRate: step?.catalogRate ?? 0,
        catalogWritesAnswered: catalog.length,
        catalogFreshnessP50Ms: catalog.length ? round(percentile(catalog, 50)) : null,
        catalogFreshnessP99Ms: catalog.length ? round(percentile(catalog, 99)) : null,
        reviewWritesAnswered: reviews.length,
        reviewFreshnessP50Ms: reviews.length ? round(percentile(reviews, 50)) : null,
        reviewFreshnessP99Ms: reviews.length ? round(percentile(reviews, 99)) : null,
        projectorLag: point?.lag ?? null,
        projectorEventsPerSecond:
          point && previous
            ? round((point.eventsApplied - previous.eventsApplied) / (point.t - previous.t))
            : null,
        relayPending: point?.relayPending ?? null,
      };
    });

    const goalStep = perStep.find((s) => s.catalogRate === GOAL.rate);
    const goal = goalStep
      ? {
          rate: GOAL.rate,
          p50: { goalMs: GOAL.p50Ms, measuredMs: goalStep.catalogFreshnessMs.p50 },
          p99: { goalMs: GOAL.p99Ms, measuredMs: goalStep.catalogFreshnessMs.p99 },
          met:
            goalStep.catalogFreshnessMs.p50 <= GOAL.p50Ms &&
            goalStep.catalogFreshnessMs.p99 <= GOAL.p99Ms &&
            goalStep.notVisible.catalog === 0 &&
            goalStep.catalog.latency.count / (goalStep.endS - goalStep.startS) >= GOAL.rate * 0.95,
        }
      : { rate: GOAL.rate, measured: false };
    const pollSummary = summarize(poller.pollDurations);

    const result = {
      benchmark: 'pipeline',
      at: startedAt.toISOString(),
      machine: machineDescription(),
      processesRun,
      loadAverageAtStart,
      loadAverageAtEnd: os.loadavg(),
      settings: {
        rates: RATES,
        stepSeconds: STEP_SECONDS,
        reviewRate: REVIEW_RATE,
        products: PRODUCTS,
        categories: CATEGORIES,
        pollMs: POLL_MS,
        quick: QUICK,
      },
      seedFreshnessMs: seedFreshness,
      replicaPollQueryMs: pollSummary,
      goal,
      steps: perStep,
      perSecond: series,
      metricsSeries,
    };

    // ── report ──
    const catalogRows = perStep.map((s) => ({
      'catalog writes/s target': s.catalogRate,
      'answered ok/s': fmt(s.catalog.latency.count / (s.endS - s.startS), 0),
      'write ok / failed / shed': `${s.catalog.latency.count} / ${s.catalog.errors - s.notSent.catalog} / ${s.notSent.catalog}`,
      'write p50 / p99 / max ms': `${fmt(s.catalog.latency.p50)} / ${fmt(s.catalog.latency.p99)} / ${fmt(s.catalog.latency.max)}`,
      'freshness p50 / p99 / max ms': `${fmt(s.catalogFreshnessMs.p50)} / ${fmt(s.catalogFreshnessMs.p99)} / ${fmt(s.catalogFreshnessMs.max)}`,
      'of which → projector txn on primary p50 / p99 ms (n)': `${fmt(s.catalogToPrimaryMs.p50)} / ${fmt(s.catalogToPrimaryMs.p99)} (${s.catalogToPrimaryMs.count})`,
      'not visible': s.notVisible.catalog,
      'projector ev/s': fmt(s.projectorEventsPerSecond, 0),
      'projector batches: events each / mean ms': `${fmt(s.projectorBatches.eventsPerBatch)} / ${fmt(s.projectorBatches.meanMs)}`,
      'lag max / mean': `${s.projectorLagMax} / ${fmt(s.projectorLagMean)}`,
      'relay commit→ack (catalog) mean / p50≤ / p99≤ ms': relayCell(s.relayCommitToAck, 'catalog'),
      'drain s': s.drainedS,
    }));
    const reviewRows = perStep.map((s) => ({
      'during catalog step': `${s.catalogRate}/s`,
      'review writes/s target': s.reviewRate,
      'answered ok/s': s.reviews ? fmt(s.reviews.latency.count / (s.endS - s.startS), 0) : '–',
      'write ok / failed / shed': s.reviews
        ? `${s.reviews.latency.count} / ${s.reviews.errors - s.notSent.reviews} / ${s.notSent.reviews}`
        : '–',
      'write p50 / p99 / max ms': s.reviews
        ? `${fmt(s.reviews.latency.p50)} / ${fmt(s.reviews.latency.p99)} / ${fmt(s.reviews.latency.max)}`
        : '–',
      'freshness p50 / p99 / max ms': `${fmt(s.reviewFreshnessMs.p50)} / ${fmt(s.reviewFreshnessMs.p99)} / ${fmt(s.reviewFreshnessMs.max)}`,
      'not visible': s.notVisible.reviews,
      'relay commit→ack (reviews) mean / p50≤ / p99≤ ms': relayCell(
        s.relayCommitToAck,
        Object.keys(s.relayCommitToAck).find((k) => k !== 'catalog') ?? 'reviews',
      ),
    }));
    const cpuRows = perStep.map((s) => ({
      'catalog step': `${s.catalogRate}/s`,
      ...Object.fromEntries(Object.entries(s.cpuSecondsPerSecond).map(([k, v]) => [k, fmt(v, 2)])),
      'bench event-loop delay p99 ms': fmt(s.eventLoopDelayP99Ms),
      'load avg (1 min) at step end': fmt(s.loadAverageAtEnd[0], 2),
    }));
    const goalLine =
      'measured' in goal
        ? `Goal at ${GOAL.rate} events/s (catalog step ${GOAL.rate}/s): not measured in this run (no ${GOAL.rate}/s step).`
        : `Goal at ${GOAL.rate} events/s: freshness p50 ≤ ${GOAL.p50Ms} ms (measured ${fmt(goal.p50.measuredMs)} ms), p99 ≤ ${GOAL.p99Ms} ms (measured ${fmt(goal.p99.measuredMs)} ms): **${goal.met ? 'met' : 'NOT met'}**.`;
    const markdown = [
      `# Pipeline benchmark: write → replica freshness`,
      '',
      `Run ${startedAt.toISOString()}${QUICK ? ' (--quick smoke run)' : ''}. Machine: ${machineDescription()}; load average at start ${loadAverageAtStart.join(', ')}, at end ${result.loadAverageAtEnd.map((l) => l.toFixed(2)).join(', ')}.`,
      `All five locus processes (run from ${processesRun}), the services (PostgreSQL ×3, FerretDB, Kafka) and this load generator share the machine.`,
      '',
      `Catalog: PATCH /products/{id} (price) on ${PRODUCTS} products, open loop, ${STEP_SECONDS} s per step. Reviews: POST /products/{id}/reviews at ${REVIEW_RATE}/s during every step (FerretDB sustains only ~100–200 writes/s here).`,
      `Freshness = first poll of the replica's applied_versions that shows the write's version − write response received (one connection, polled every ${POLL_MS} ms; poll query p50 ${pollSummary.p50} ms, p99 ${pollSummary.p99} ms: resolution ≈ poll interval + query time). Write latency counts from the intended send time (coordinated omission corrected). A write due while ${MAX_IN_FLIGHT.catalog} catalog (${MAX_IN_FLIGHT.reviews} review) writes are unanswered, or more than ${LATE_SECONDS} s after its step's end, is shed: counted, not sent, not in the latencies. ‘of which → projector txn on primary’ = applied_versions.applied_at (start of the projector transaction that applied the write, primary clock, same machine) − write response, for the writes whose exact version the replica showed (n); the rest of the freshness is that transaction, its commit, WAL replay on the replica and polling. ‘projector batches’ = the projector's committed batches during the step and its drain, from its /metrics (events per batch, mean time from fetch to commit).`,
      '',
      goalLine,
      '',
      '## Catalog (product price updates)',
      '',
      markdownTable(catalogRows),
      '## Reviews (creates), alongside each catalog step',
      '',
      markdownTable(reviewRows),
      '## Failed writes',
      '',
      ...perStep.map(
        (s) =>
          `- catalog step ${s.catalogRate}/s: ${
            Object.entries(s.errors)
              .map(([reason, n]) => `${n} × ${reason}`)
              .join(', ') || 'none'
          }`,
      ),
      '',
      '## CPU (core-seconds per second) during each step',
      '',
      markdownTable(cpuRows),
      'Locus processes, this benchmark, then the services that run on this machine, each as its whole process tree (a PostgreSQL server with all its backends, FerretDB, Kafka’s JVM); 2.00 is both cores.',
      '',
      'Relay commit→ack comes from the relay’s histogram, so p50/p99 are bucket upper bounds. Projector events/s and lag are scraped from its /metrics every second. Raw figures and per-second series: `' +
        `pipeline-${stamp}.json\`; chart: \`pipeline-latest.svg\`.`,
      '',
    ].join('\n');

    const written = await writeResults('pipeline', {
      [`-${stamp}.json`]: `${JSON.stringify(result, null, 2)}\n`,
      '-latest.md': markdown,
    });
    await writeChartSvg(chartSpec(series, perStep), path.join(RESULTS_DIR, 'pipeline-latest.svg'));

    console.log('\n' + markdown);
    console.log(`written: ${[...written, 'bench/results/pipeline-latest.svg'].join(', ')}`);
  } finally {
    await cleanup();
  }
}

function relayCell(histograms: Record<string, BucketSummary>, source: string): string {
  const h = histograms[source];
  if (!h || h.count === 0) return '–';
  return `${fmt(h.meanMs)} / ${fmt(h.p50AtMostMs, 0)} / ${fmt(h.p99AtMostMs, 0)}`;
}

function chartSpec(
  series: {
    second: number;
    catalogFreshnessP50Ms: number | null;
    catalogFreshnessP99Ms: number | null;
    projectorLag: number | null;
  }[],
  steps: { catalogRate: number; reviewRate: number; startS: number; endS: number }[],
): TopLevelSpec {
  const freshness = series.flatMap((p) => [
    ...(p.catalogFreshnessP50Ms === null
      ? []
      : [{ second: p.second, ms: Math.max(0.1, p.catalogFreshnessP50Ms), series: 'freshness p50' }]),
    ...(p.catalogFreshnessP99Ms === null
      ? []
      : [{ second: p.second, ms: Math.max(0.1, p.catalogFreshnessP99Ms), series: 'freshness p99' }]),
  ]);
  const lag = series
    .filter((p) => p.projectorLag !== null)
    .map((p) => ({ second: p.second, lag: p.projectorLag }));
  const stepData = steps.map((s) => ({
    start: s.startS,
    end: s.endS,
    label: `${s.catalogRate}/s (+${s.reviewRate} reviews/s)`,
  }));
  const width = 760;
  const stepLayers = (withLabels: boolean) => [
    {
      data: { values: stepData },
      mark: { type: 'rect' as const, opacity: 0.12, color: '#4c78a8' },
      encoding: { x: { field: 'start', type: 'quantitative' as const }, x2: { field: 'end' } },
    },
    ...(withLabels
      ? [
          {
            data: { values: stepData },
            mark: {
              type: 'text' as const,
              align: 'left' as const,
              baseline: 'top' as const,
              dx: 3,
              dy: 3,
              fontSize: 11,
            },
            encoding: {
              x: { field: 'start', type: 'quantitative' as const },
              y: { value: 0 },
              text: { field: 'label', type: 'nominal' as const },
            },
          },
        ]
      : []),
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'locus pipeline: catalog write → visible on the replica (shaded: catalog write-rate steps)',
    vconcat: [
      {
        width,
        height: 260,
        layer: [
          ...stepLayers(true),
          {
            data: {
              values: [
                { ms: GOAL.p50Ms, goal: 'goal p50' },
                { ms: GOAL.p99Ms, goal: 'goal p99' },
              ],
            },
            mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
            encoding: { y: { field: 'ms', type: 'quantitative' } },
          },
          {
            data: { values: freshness },
            mark: { type: 'line', point: { size: 12 } },
            encoding: {
              x: { field: 'second', type: 'quantitative', title: 'seconds since the first step' },
              y: {
                field: 'ms',
                type: 'quantitative',
                scale: { type: 'log' },
                title: 'freshness per second (ms, log)',
              },
              color: { field: 'series', type: 'nominal', title: null },
            },
          },
        ],
      },
      {
        width,
        height: 140,
        layer: [
          ...stepLayers(false),
          {
            data: { values: lag },
            mark: { type: 'area', line: true, opacity: 0.4, color: '#e45756' },
            encoding: {
              x: { field: 'second', type: 'quantitative', title: 'seconds since the first step' },
              y: { field: 'lag', type: 'quantitative', title: 'projector lag (messages)' },
            },
          },
        ],
      },
    ],
  };
}

await main();
