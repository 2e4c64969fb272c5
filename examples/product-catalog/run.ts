import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { ADDRESS_VARIABLES, readEnvFile, services, LOCUS_HOME } from '../../src/cli/services.command.js';
import { migrateAll } from '../../src/cli/migrate.command.js';
import { loadConfig, portOf } from '../../src/shared/config.js';
import { PROCESS_NODE_FLAGS, ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import { SIZES, type SizeName } from './dataset.js';
import { requestJson } from './http.js';
import { seedThroughApis, type Endpoints, type SeedResult } from './seed.js';
import { exampleTokens } from './tokens.js';
import { printCredentials, printTour } from './tour.js';

/**
 * `npm run example`: services up, migrate, start catalog, reviews, relay, projector and query as
 * separate processes, seed a deterministic catalog through the write APIs, wait for the views to catch
 * up, print a tour of the REST API, then keep running until Ctrl-C (or exit at once with `--exit`).
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: 'string', default: 'small' },
      seed: { type: 'string', default: '42' },
      exit: { type: 'boolean', default: false },
      // Use locus processes that already run (docker compose) at LOCUS_{CATALOG,REVIEWS,QUERY}_URL.
      attach: { type: 'boolean', default: false },
    },
  });
  const sizeName = values.size as SizeName;
  const size = SIZES[sizeName];
  if (!size) throw new Error(`--size must be one of ${Object.keys(SIZES).join(', ')}`);
  const seed = Number(values.seed);

  if (values.attach) return attachAndTour(size, sizeName, seed);
  if (!ADDRESS_VARIABLES.every((name) => process.env[name])) {
    step('starting the services (npm run services:up)');
    services('up');
    Object.assign(process.env, readEnvFile());
  }
  step('migrating the catalog and read stores');
  await migrateAll();
  const tokens = exampleTokens(path.join(LOCUS_HOME, 'secrets'));
  step(`bearer tokens for writes, exports and admin routes: ${tokens.file} (mode 0600)`);
  // The processes accept the file's tokens; the query service sends its own to the owners' exports.
  process.env.LOCUS_API_TOKENS_FILE = tokens.file;
  process.env.LOCUS_SERVICE_TOKEN = tokens.service;

  // Ports come from the same settings the processes read, so a test can run the example beside others.
  const config = loadConfig([
    'LOCUS_QUERY_PORT',
    'LOCUS_CATALOG_PORT',
    'LOCUS_REVIEWS_PORT',
    'LOCUS_PROJECTOR_PORT',
    'LOCUS_RELAY_PORT',
  ]);
  const ports = {
    query: portOf(config, 'LOCUS_QUERY_PORT'),
    catalog: portOf(config, 'LOCUS_CATALOG_PORT'),
    reviews: portOf(config, 'LOCUS_REVIEWS_PORT'),
    projector: portOf(config, 'LOCUS_PROJECTOR_PORT'),
    relay: portOf(config, 'LOCUS_RELAY_PORT'),
  };
  // The reviews service asks the catalog whether a product exists, at the catalog's port.
  process.env.LOCUS_CATALOG_URL = `http://127.0.0.1:${ports.catalog}`;
  process.env.LOCUS_REVIEWS_URL = `http://127.0.0.1:${ports.reviews}`;
  const endpoints: Endpoints = {
    catalog: `http://127.0.0.1:${ports.catalog}`,
    reviews: `http://127.0.0.1:${ports.reviews}`,
    query: `http://127.0.0.1:${ports.query}`,
    writeToken: tokens.writer,
  };
  const supervisor = new ProcessSupervisor(path.join(LOCUS_HOME, 'logs', 'example'));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    step('stopping locus processes');
    await supervisor.stopAll();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(143)));

  try {
    for (const name of ['catalog', 'reviews', 'relay', 'projector', 'query'] as const) {
      step(`starting ${name} (port ${ports[name]}, log ${supervisor.logFile(name)})`);
      await supervisor.start({
        name,
        args: [name],
        healthUrl: `http://127.0.0.1:${ports[name]}/health`,
        nodeArgs: PROCESS_NODE_FLAGS[name],
        env: withoutOthersDatabases(name),
      });
    }
    step(`seeding the "${sizeName}" catalog (seed ${seed}) through the catalog and reviews APIs`);
    const seeded = await seedThroughApis(endpoints, size, seed);
    step('waiting for the views to catch up (write → outbox → Kafka → projector → replica)');
    await waitForViews(endpoints, seeded);
    await printTour(endpoints, seeded, `http://127.0.0.1:${ports.projector}`);
    printCredentials(endpoints, `http://127.0.0.1:${ports.projector}`, tokens);
    if (values.exit) return;
    step('running; press Ctrl-C to stop');
    await new Promise(() => undefined);
  } finally {
    await stop();
  }
}

/** The PostgreSQL URLs each process reads, each with the password of that process's own role. */
const OWN_DATABASE_URLS = {
  catalog: ['LOCUS_CATALOG_DB_URL'],
  reviews: [],
  relay: ['LOCUS_CATALOG_RELAY_DB_URL'],
  projector: ['LOCUS_READ_DB_URL'],
  query: ['LOCUS_QUERY_DB_URL', 'LOCUS_READ_REPLICA_URL'],
} as const satisfies Record<string, readonly string[]>;
const DATABASE_URL = /^LOCUS_\w+_(DB|ADMIN|REPLICA|REPLICATION)_URL$/;

/**
 * Blanks every PostgreSQL URL but the process's own: a process learns no other role's password, nor
 * the owner's (an empty setting counts as unset).
 */
function withoutOthersDatabases(name: keyof typeof OWN_DATABASE_URLS): NodeJS.ProcessEnv {
  const own = new Set<string>(OWN_DATABASE_URLS[name]);
  const others = Object.keys(process.env).filter((key) => DATABASE_URL.test(key) && !own.has(key));
  return Object.fromEntries(others.map((key) => [key, '']));
}

/** `--attach`: seed and tour processes someone else started (docker compose), starting nothing. */
async function attachAndTour(size: (typeof SIZES)[SizeName], sizeName: string, seed: number): Promise<void> {
  const config = loadConfig([
    'LOCUS_CATALOG_URL',
    'LOCUS_REVIEWS_URL',
    'LOCUS_QUERY_URL',
    'LOCUS_PROJECTOR_URL',
  ]);
  const endpoints: Endpoints = {
    catalog: config.LOCUS_CATALOG_URL,
    reviews: config.LOCUS_REVIEWS_URL,
    query: config.LOCUS_QUERY_URL,
    // The containers accept the dev token they were given (docker-compose.yml), every scope.
    writeToken: process.env.LOCUS_DEV_TOKEN,
  };
  step('waiting for the running locus processes to be healthy');
  for (const url of Object.values(config)) await waitHealthy(`${url}/health`);
  step(`seeding the "${sizeName}" catalog (seed ${seed}) through the catalog and reviews APIs`);
  const seeded = await seedThroughApis(endpoints, size, seed);
  step('waiting for the views to catch up (write → outbox → Kafka → projector → replica)');
  await waitForViews(endpoints, seeded);
  await printTour(endpoints, seeded, config.LOCUS_PROJECTOR_URL);
}

async function waitHealthy(url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await requestJson('GET', url).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} was not healthy within ${timeoutMs} ms`);
    await sleep(1000);
  }
}

function step(message: string): void {
  console.log(`\n▸ ${message}`);
}

interface CategorySummaryBody {
  productCount: number;
  reviewCount: number;
}

/** Polls the query service until every seeded product and review is in the views, with a progress bar. */
async function waitForViews(endpoints: Endpoints, seeded: SeedResult, timeoutMs = 300_000): Promise<void> {
  const total = seeded.productIds.length + seeded.reviews;
  const bar = new SingleBar(
    {
      format: ' views [{bar}] {value}/{total} rows | {percentage}% | ETA {eta}s',
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    Presets.shades_classic,
  );
  bar.start(total, 0);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      let seen = 0;
      for (const id of seeded.categoryIds) {
        const { status, body } = await requestJson<CategorySummaryBody>(
          'GET',
          `${endpoints.query}/categories/${id}/summary`,
        );
        if (status === 200) seen += body.productCount + body.reviewCount;
      }
      bar.update(Math.min(seen, total));
      if (seen >= total) return;
      if (Date.now() > deadline)
        throw new Error(`views did not catch up within ${timeoutMs} ms (${seen}/${total})`);
      await sleep(500);
    }
  } finally {
    bar.stop();
  }
}
