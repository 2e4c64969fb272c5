import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { deadLetterTopic, topicNames } from '../contracts/topics.js';
import { createBroker } from '../messaging/kafka.js';
import { kafkaCredentials } from '../messaging/kafka-credentials.js';
import { bearerHeader } from '../shared/auth.tokens.js';
import { createLogger } from '../shared/logger.js';
import { REPO_ROOT } from '../migrate/migrator.js';
import { PROCESS_NODE_FLAGS, ProcessSupervisor } from '../supervisor/process-supervisor.js';
import { verifyViews, type VerifyReport } from '../verify/verify.command.js';
// The tests' helpers for a fresh, migrated database per run: the fuzz run must not touch the
// databases, topics or consumer group of the example, a developer's processes or another run.
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueName,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../test/support/isolation.js';
import { setupTestTopics } from '../../test/support/kafka.js';
import { LOCUS_HOME, readEnvFile } from './services.command.js';

const PROCESSES = ['catalog', 'reviews', 'relay', 'projector', 'query'] as const;
type ProcessName = (typeof PROCESSES)[number];

/**
 * The REST APIs in the order they are fuzzed: the catalog first, so the reviews and query runs meet
 * products that exist.
 */
const APIS = ['catalog', 'reviews', 'query'] as const;
type ApiName = (typeof APIS)[number];

/** schemathesis's settings (scripts/fuzz/schemathesis.toml) and its hooks, each change with why. */
const FUZZ_DIR = path.join(REPO_ROOT, 'scripts', 'fuzz');

/**
 * Checks left out of `--checks all`, each with why: each is replaced by a check of the same name with
 * a suffix (scripts/fuzz/hooks.py) that is the same check except for answers named by their LOCUS_ code.
 */
const EXCLUDED_CHECKS: { check: string; why: string }[] = [
  {
    check: 'positive_data_acceptance',
    why:
      'replaced by positive_data_acceptance_beyond_schema: it lets through refusals for rules no ' +
      'schema can state (a reused Idempotency-Key, a cursor the service did not issue, the query ' +
      "API's cross-field rules), each recognised by its code, field and detail",
  },
  {
    check: 'not_a_server_error',
    why:
      'replaced by not_a_server_error_but_not_yet_consistent: it lets through 503 ' +
      'LOCUS_NOT_YET_CONSISTENT, the documented retry-later answer to a consistency token of a ' +
      'write the views do not show (schemathesis invents such tokens)',
  },
];

export interface FuzzOutcome {
  api: ApiName;
  exitCode: number | null;
  /** Test cases schemathesis generated and sent, from its summary. */
  testCases: number | undefined;
  failures: string[];
  logFile: string;
}

/**
 * `scripts/fuzz/run.sh`: in databases, topics, a consumer group and ports of its own, starts the five
 * locus processes, runs schemathesis (every check, every phase, a fixed seed and budget) against the
 * catalog, reviews and query OpenAPI documents, then waits for the views and requires `locus verify`
 * at zero differences and every dead-letter store empty. Stops what it started and drops what it
 * created, also on failure; exit code 1 when anything failed.
 *
 * `st` is the schemathesis command (scripts/fuzz/install-schemathesis.sh installs it, pinned).
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      st: { type: 'string' },
      seed: { type: 'string', default: '13' },
      'max-examples': { type: 'string', default: '60' },
      'port-base': { type: 'string', default: '28080' },
      'verify-wait': { type: 'string', default: '120' },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  if (!values.st) throw new Error('--st <path of the schemathesis command> is required');
  Object.assign(process.env, { ...readEnvFile(), ...process.env });
  const startedAt = Date.now();
  const runId = uniqueName('fuzz');
  const outDir = path.join(LOCUS_HOME, 'logs', 'fuzz', runId);
  mkdirSync(outDir, { recursive: true });
  const portBase = Number(values['port-base']);
  const ports: Record<ProcessName, number> = {
    query: portBase,
    catalog: portBase + 1,
    reviews: portBase + 2,
    projector: portBase + 3,
    relay: portBase + 4,
  };

  step(`run ${runId}: logs and reports in ${outDir}`);
  const [catalogDb, readDb] = await Promise.all([
    createTestDatabase('catalog'),
    createTestDatabase('readmodel'),
  ]);
  const mongo = uniqueMongoUrl();
  const topicPrefix = uniqueTopicPrefix();
  await setupTestTopics(topicPrefix, `${runId}-projector`);
  // A token for this run only, with every scope: the processes accept it, schemathesis sends it.
  const token = randomBytes(32).toString('base64url');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOCUS_DEV_TOKEN: token,
    ...catalogDb.env,
    ...readDb.env,
    LOCUS_MONGO_URL: mongo.url,
    LOCUS_TOPIC_PREFIX: topicPrefix,
    LOCUS_PROJECTOR_GROUP: `${runId}-projector`,
    LOCUS_CATALOG_URL: `http://127.0.0.1:${ports.catalog}`,
    LOCUS_REVIEWS_URL: `http://127.0.0.1:${ports.reviews}`,
    LOCUS_QUERY_PORT: String(ports.query),
    LOCUS_CATALOG_PORT: String(ports.catalog),
    LOCUS_REVIEWS_PORT: String(ports.reviews),
    LOCUS_PROJECTOR_PORT: String(ports.projector),
    LOCUS_RELAY_PORT: String(ports.relay),
    // schemathesis invents consistency tokens that no view will ever show: each such read waits this
    // long before its 503, so a short wait keeps the run within its budget.
    LOCUS_CONSISTENCY_WAIT_MS: '100',
  };
  const supervisor = new ProcessSupervisor(outDir, env);
  const problems: string[] = [];
  // On Ctrl-C or SIGTERM: schemathesis, then the locus processes, then what the run created.
  const schemathesis = new Set<ChildProcess>();
  const stopOnSignal = (signal: NodeJS.Signals) => {
    for (const child of schemathesis) child.kill('SIGTERM');
    void supervisor
      .stopAll()
      .then(() => (values.keep ? undefined : dropEverything(catalogDb, readDb, mongo, topicPrefix)))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    for (const name of PROCESSES) {
      await supervisor.start({
        name,
        args: [name],
        healthUrl: `http://127.0.0.1:${ports[name]}/health`,
        nodeArgs: PROCESS_NODE_FLAGS[name],
      });
    }
    step(`started ${PROCESSES.map((name) => `${name} :${ports[name]}`).join(', ')}`);
    for (const { check, why } of EXCLUDED_CHECKS) console.log(`check ${check} left out: ${why}`);
    const apis = values.only ? APIS.filter((api) => values.only!.split(',').includes(api)) : APIS;
    const outcomes: FuzzOutcome[] = [];
    for (const api of apis) {
      // A review needs a product that exists: without one every review write would answer 404.
      const parameters: Record<string, string> =
        api === 'reviews'
          ? { 'path.productId': await createProduct(`http://127.0.0.1:${ports.catalog}`, token) }
          : {};
      const outcome = await runSchemathesis(values.st, api, ports[api], outDir, {
        seed: values.seed,
        maxExamples: values['max-examples'],
        parameters,
        running: schemathesis,
        token,
      });
      outcomes.push(outcome);
      console.log(
        `${api}: ${outcome.testCases ?? '?'} test cases, ${outcome.failures.length} failures` +
          ` (st exit ${outcome.exitCode}, log ${outcome.logFile})`,
      );
      for (const failure of outcome.failures) console.log(`  ${failure}`);
      if (outcome.exitCode !== 0) problems.push(`schemathesis found failures in the ${api} API`);
    }

    step('waiting for the views to catch up, then verifying them against the sources');
    const report = await verifyUntilEqual(
      { catalog: catalogDb.url, mongo: mongo.url, readPrimary: readDb.url },
      Number(values['verify-wait']) * 1000,
    );
    const { counts, differences } = report;
    console.log(
      `verify: ${differences.length} differences (${counts.categories} categories, ${counts.products} products, ${counts.reviews} reviews)`,
    );
    for (const { view, id, kind } of differences.slice(0, 30)) console.log(`  ${view} ${kind} ${id}`);
    if (differences.length > 0) problems.push(`locus verify reports ${differences.length} differences`);

    const letters = await deadLetterCounts(readDb.url, `http://127.0.0.1:${ports.relay}`, token);
    for (const [store, count] of letters) {
      console.log(`dead letters in ${store}: ${count}`);
      if (count > 0) problems.push(`${count} dead letters in ${store}`);
    }
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  } finally {
    step('stopping the locus processes');
    await supervisor.stopAll();
    if (values.keep) {
      console.log(
        `kept: databases ${catalogDb.name}, ${readDb.name}, ${mongo.database}; topics ${topicPrefix}*`,
      );
    } else {
      await dropEverything(catalogDb, readDb, mongo, topicPrefix);
    }
  }
  console.log(`fuzz run took ${Math.round((Date.now() - startedAt) / 1000)} s`);
  if (problems.length > 0) {
    step(`fuzz: FAILED\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    process.exitCode = 1;
  } else {
    step('fuzz: passed');
  }
}

/**
 * One schemathesis run against one API: every check, every phase (the stateful one included), one
 * worker, a fixed seed and a fixed number of examples per operation, so CI runs the same requests
 * each time. Its output goes to a log file; the summary is read from its NDJSON report.
 */
async function runSchemathesis(
  st: string,
  api: ApiName,
  port: number,
  outDir: string,
  budget: {
    seed: string;
    maxExamples: string;
    parameters: Record<string, string>;
    /** Holds the schemathesis process while it runs, so a signal can stop it. */
    running: Set<ChildProcess>;
    /** The run's bearer token ([auth.openapi.bearer] in schemathesis.toml reads it from the env). */
    token: string;
  },
): Promise<FuzzOutcome> {
  const base = `http://127.0.0.1:${port}`;
  const reportDir = path.join(outDir, `schemathesis-${api}`);
  const logFile = path.join(outDir, `schemathesis-${api}.log`);
  // The shared settings, plus the values this API's run holds fixed ([parameters]).
  const configFile = path.join(outDir, `schemathesis-${api}.toml`);
  const fixed = Object.entries(budget.parameters).map(([name, value]) => `"${name}" = "${value}"`);
  writeFileSync(
    configFile,
    readFileSync(path.join(FUZZ_DIR, 'schemathesis.toml'), 'utf8') +
      (fixed.length > 0 ? `\n[parameters]\n${fixed.join('\n')}\n` : ''),
  );
  const excluded = EXCLUDED_CHECKS.map(({ check }) => check);
  const args = [
    '--config-file',
    configFile,
    'run',
    `${base}/documentation/json`,
    '--url',
    base,
    '--checks',
    'all',
    ...(excluded.length > 0 ? ['--exclude-checks', excluded.join(',')] : []),
    '--phases',
    'examples,coverage,fuzzing,stateful',
    '--max-examples',
    budget.maxExamples,
    '--seed',
    budget.seed,
    '--workers',
    '1',
    '--request-timeout',
    '15',
    '--generation-database',
    'none',
    '--no-color',
    // The reproducing curl commands in the log must carry the real values, tokens and keys included.
    '--output-sanitize',
    'false',
    '--report',
    'ndjson,junit',
    '--report-dir',
    reportDir,
  ];
  step(`schemathesis against the ${api} API (${base}): st ${args.join(' ')}`);
  const started = Date.now();
  const log = createWriteStream(logFile);
  mkdirSync(reportDir, { recursive: true });
  // Its working directory gets schemathesis's own cache (.schemathesis/), kept out of the repository.
  const child = spawn(st, args, {
    cwd: reportDir,
    env: {
      ...process.env,
      SCHEMATHESIS_HOOKS: path.join(FUZZ_DIR, 'hooks.py'),
      LOCUS_FUZZ_TOKEN: budget.token,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  budget.running.add(child);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  budget.running.delete(child);
  await new Promise((resolve) => log.end(resolve));
  console.log(`${api}: schemathesis took ${Math.round((Date.now() - started) / 1000)} s`);
  const output = readFileSync(logFile, 'utf8');
  return { api, exitCode, logFile, ...summaryOf(output) };
}

/**
 * Reads schemathesis's plain output: the number of test cases it generated, and for each operation
 * in its FAILURES section (a `____ GET /path ____` headline) the failure kinds found there.
 */
export function summaryOf(output: string): { testCases: number | undefined; failures: string[] } {
  const generated = /Test cases:\s+(\d+) generated/.exec(output);
  const failuresAt = output.indexOf('= FAILURES =');
  const summaryAt = output.indexOf('= SUMMARY =');
  const section = failuresAt < 0 ? '' : output.slice(failuresAt, summaryAt < 0 ? undefined : summaryAt);
  const failures: string[] = [];
  const blocks = section.split(/^_{3,} (.+?) _{3,}$/m);
  for (let i = 1; i + 1 < blocks.length; i += 2) {
    const kinds = new Set([...blocks[i + 1]!.matchAll(/^- (ST\d+ .+)$/gm)].map((match) => match[1]!));
    failures.push(`${blocks[i]!}: ${[...kinds].join('; ')}`);
  }
  return { testCases: generated ? Number(generated[1]) : undefined, failures };
}

/** Creates a category and a product in it through the catalog API; returns the product's id. */
async function createProduct(catalog: string, token: string): Promise<string> {
  const post = async (url: string, body: unknown): Promise<{ id: string }> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearerHeader(token) },
      body: JSON.stringify(body),
    });
    if (response.status !== 201) throw new Error(`POST ${url} answered ${response.status}`);
    return (await response.json()) as { id: string };
  };
  const category = await post(`${catalog}/categories`, { name: 'fuzz' });
  const product = await post(`${catalog}/products`, {
    sku: 'FUZZ-1',
    name: 'fuzz',
    categoryId: category.id,
    price: { amount: 1000, currency: 'EUR' },
  });
  return product.id;
}

/** `locus verify --wait`: the pipeline is asynchronous, so differences are final only once they stay. */
async function verifyUntilEqual(
  urls: Parameters<typeof verifyViews>[0],
  waitMs: number,
): Promise<VerifyReport> {
  const deadline = Date.now() + waitMs;
  let report = await verifyViews(urls);
  while (report.differences.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    report = await verifyViews(urls);
  }
  return report;
}

/**
 * The dead letters of this run: rows of the projector's `dead_letters` table in the read store, and
 * the events the relay parked (its `/admin/dead-letters`, which lists both outboxes; a relay without
 * that route has none).
 */
async function deadLetterCounts(
  readDbUrl: string,
  relay: string,
  token: string,
): Promise<[string, number][]> {
  const client = new pg.Client({ connectionString: readDbUrl });
  await client.connect();
  let projector: number;
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
    projector = rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
  const counts: [string, number][] = [['projector (read store dead_letters)', projector]];
  const response = await fetch(`${relay}/admin/dead-letters?limit=1000`, {
    headers: bearerHeader(token),
  });
  if (response.status === 200) {
    const { items } = (await response.json()) as { items: unknown[] };
    counts.push(['relay (GET /admin/dead-letters)', items.length]);
  } else {
    await response.body?.cancel();
    if (response.status !== 404) throw new Error(`relay /admin/dead-letters answered ${response.status}`);
  }
  return counts;
}

async function dropEverything(
  catalogDb: TestDatabase,
  readDb: TestDatabase,
  mongo: { url: string },
  topicPrefix: string,
): Promise<void> {
  const broker = createBroker({
    brokers: process.env.LOCUS_KAFKA_BROKERS!,
    clientId: 'locus-fuzz-cleanup',
    logger: createLogger('fuzz', 'warn'),
    credentials: kafkaCredentials('admin'),
  });
  const topics = topicNames(topicPrefix);
  const client = new MongoClient(mongo.url);
  await Promise.allSettled([
    catalogDb.drop(),
    readDb.drop(),
    client
      .db()
      .dropDatabase()
      .finally(() => client.close()),
    broker
      .deleteTopics([topics.products, topics.categories, topics.reviews, deadLetterTopic(topicPrefix)])
      .finally(() => broker.close()),
  ]);
}

function step(message: string): void {
  console.log(`\n▸ ${message}`);
}
