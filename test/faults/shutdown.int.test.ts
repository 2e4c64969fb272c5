import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { createKysely, createPool } from '../../src/shared/postgres.js';
import { ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import { EventWriter, produceMixed } from '../../testkit/events.js';
import {
  openProjectorTestbed,
  storedTotal,
  waitFor,
  type ProjectorTestbed,
} from '../projector/projector.fixtures.js';
import { seededRandom } from '../../testkit/random.js';
import { appendInterleaved } from '../relay/outbox-fixture.js';
import { healthOf } from '../support/health.js';
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueName,
  uniqueTopicPrefix,
  type TestDatabase,
  type RoleSetting,
} from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';
import { endpointOf } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { createLogger } from '../../src/shared/logger.js';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { setupTestTopics } from '../support/kafka.js';

const logger = createLogger('shutdown-test', 'error');
/** The grace period the processes get here (LOCUS_SHUTDOWN_GRACE_MS); production keeps 15 s. */
const GRACE_MS = 4_000;
/** What a process may take beyond its grace: the exit itself, a loaded two-core machine. */
const EXIT_SLACK_MS = 4_000;
/** Kafka's fault-injection listener and the address it advertises (scripts/services/kafka.sh). */
const FAULT_LISTENER = process.env.LOCUS_KAFKA_FAULT_LISTENER;
const FAULT_PROXY = process.env.LOCUS_KAFKA_FAULT_PROXY;

/** The processes' logs; kept when DEBUG_CHILD is set, so a failure can be explained. */
const logDir = path.join(os.tmpdir(), uniqueName('locus-shutdown-test'));
const supervisor = new ProcessSupervisor(logDir);
const databases: TestDatabase[] = [];
const proxies: TcpProxy[] = [];
const sockets: net.Socket[] = [];

/** A fresh database of `target` and a proxy in front of its server that a test can cut. */
/** A fresh database behind a proxy; `via(setting)`: its role URL for that setting, through the proxy. */
async function storeBehindProxy(target: 'catalog' | 'readmodel') {
  const database = await createTestDatabase(target);
  databases.push(database);
  const proxy = await proxyTo(database.url);
  return { database, proxy, via: (setting: RoleSetting) => proxy.via(database.urlFor(setting)) };
}

async function proxyTo(url: string): Promise<TcpProxy> {
  const proxy = await startTcpProxy(endpointOf(new URL(url).host));
  proxies.push(proxy);
  return proxy;
}

/** Starts `locus <name>` as the example does, with the short grace period, and waits for its /health. */
async function startProcess(name: string, env: Record<string, string>, args = [name]): Promise<number> {
  const port = await freePort();
  const portSetting = `LOCUS_${name.split('-')[0]!.toUpperCase()}_PORT`;
  await supervisor.start({
    name,
    args,
    healthUrl: `http://127.0.0.1:${port}/health`,
    env: {
      LOCUS_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      LOCUS_LOG_LEVEL: 'info',
      [portSetting]: String(port),
      ...env,
    },
  });
  return port;
}

/**
 * A client that sent half a request on a keep-alive connection and went quiet (a slow upload, a
 * client that hung): the server may not wait for it to finish before it exits.
 */
async function holdHalfARequest(port: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  // one full request first, so the connection is a kept-alive one that has served
  socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write(
    'POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":',
  );
}

/** Every process below `pid`, as `ps` sees them now (tsx's esbuild service, anything spawned). */
function descendantsOf(pid: number): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of table)
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
  };
  walk(pid);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * SIGTERMs the process the way an orchestrator does (SIGKILL only far beyond its grace, so a hang
 * shows as time) and expects it gone within its grace period, with nothing it started left behind.
 * `socketsClosed`: and no socket still open when its close returned (see socketsOpenAfterClose).
 */
async function expectStopsWithinGrace(name: string, { socketsClosed = false } = {}): Promise<void> {
  const pid = supervisor.pid(name)!;
  const descendants = descendantsOf(pid);
  const started = performance.now();
  const exit = await supervisor.stop(name, 60_000);
  const tookMs = performance.now() - started;
  expect({ name, tookMs: Math.round(tookMs), exit }).toEqual({
    name,
    tookMs: expect.toSatisfy((ms: number) => ms <= GRACE_MS + EXIT_SLACK_MS) as unknown,
    exit: { code: 0, signal: null },
  });
  await waitFor('its children to go', async () => descendants.every((child) => !alive(child)), 3_000);
  if (!socketsClosed) return;
  // The supervisor copies the child's output into its log file as it comes: the last line may land
  // just after the exit was seen.
  await waitFor('its "stopped" log line', async () => stoppedLine(name) !== undefined, 3_000);
  expect({ name, socketsOpenAfterClose: socketsOpenAfterClose(name) }).toEqual({
    name,
    socketsOpenAfterClose: [],
  });
}

/** Network handles and requests: what a client left open keeps the process alive past its close. */
const SOCKET_RESOURCE =
  /^(TCPSocketWrap|TCPWRAP|TCPConnectWrap|ConnectWrap|ShutdownWrap|SimpleShutdownWrap)$/;

/**
 * The sockets the process still held when its close returned (its "stopped" log line). Any one of
 * them is a client that closed without waiting for its connections to end: it only lingers for
 * milliseconds when the peer answers at once, and past the grace period (exit 1) when it does not.
 */
function socketsOpenAfterClose(name: string): string[] {
  const stopped = stoppedLine(name);
  if (!stopped) return ['no "stopped" log line'];
  return stopped.open.filter((resource) => SOCKET_RESOURCE.test(resource));
}

/** The process's "<name> stopped" log line, with what was still open then; undefined until written. */
function stoppedLine(name: string): { open: string[] } | undefined {
  return readFileSync(supervisor.logFile(name), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .map((line) => JSON.parse(line) as { msg?: string; open?: string[] })
    .find((entry): entry is { msg: string; open: string[] } =>
      Boolean(entry.msg?.endsWith(' stopped') && entry.open),
    );
}

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await supervisor.stopAll();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(databases.map((database) => database.drop()));
  if (!process.env.DEBUG_CHILD) rmSync(logDir, { recursive: true, force: true });
});

describe.concurrent('every process exits within its grace period on SIGTERM', () => {
  it('catalog: its store down and a client holding half a request on a keep-alive connection', async () => {
    const store = await storeBehindProxy('catalog');
    const port = await startProcess('catalog', {
      LOCUS_CATALOG_DB_URL: store.via('LOCUS_CATALOG_DB_URL'),
      LOCUS_TOPIC_PREFIX: uniqueTopicPrefix(),
    });
    await holdHalfARequest(port);
    await store.proxy.cut();
    await expectStopsWithinGrace('catalog');
  });

  it('reviews: its store down and a client holding half a request on a keep-alive connection', async () => {
    const mongo = uniqueMongoUrl();
    const proxy = await proxyTo(mongo.url);
    const viaProxy = new URL(proxy.via(mongo.url)); // keeps the credentials and options of the URL
    viaProxy.searchParams.set('directConnection', 'true');
    const port = await startProcess('reviews', {
      LOCUS_MONGO_URL: viaProxy.toString(),
      LOCUS_CATALOG_URL: `http://127.0.0.1:${await freePort()}`,
    });
    await holdHalfARequest(port);
    await proxy.cut();
    await expectStopsWithinGrace('reviews');
  });

  it('query: both read stores down and a client holding half a request on a keep-alive connection', async () => {
    const store = await storeBehindProxy('readmodel');
    const replica = await proxyTo(store.database.replicaUrl);
    const port = await startProcess('query', {
      LOCUS_QUERY_DB_URL: store.via('LOCUS_QUERY_DB_URL'),
      LOCUS_READ_REPLICA_URL: replica.via(store.database.replicaUrl),
    });
    await holdHalfARequest(port);
    await Promise.all([store.proxy.cut(), replica.cut()]);
    await expectStopsWithinGrace('query');
  });

  it('relay: its outbox store down, retrying failed batches', async () => {
    const store = await storeBehindProxy('catalog');
    const prefix = uniqueTopicPrefix();
    const db = createKysely<CatalogDb>(createPool(store.database.url, { applicationName: 'shutdown-test' }));
    await appendInterleaved(db, topicNames(prefix).products, 20, 5);
    await db.destroy();
    await setupTestTopics(prefix);
    const port = await startProcess(
      'relay-store-down',
      {
        LOCUS_CATALOG_RELAY_DB_URL: store.via('LOCUS_CATALOG_RELAY_DB_URL'),
        LOCUS_MONGO_URL: uniqueMongoUrl().url,
        LOCUS_TOPIC_PREFIX: prefix,
      },
      ['relay'],
    );
    await store.proxy.cut();
    await waitFor('failed batches', async () => (await healthOf(port)).status === 503, 30_000);
    await expectStopsWithinGrace('relay-store-down', { socketsClosed: true });
  });

  it('projector: its read store down mid-stream, retrying the batch', async () => {
    const prefix = uniqueTopicPrefix();
    const testbed = await openProjectorTestbed({ prefix, clientId: 'shutdown-test', poolSize: 2, logger });
    try {
      const proxy = await proxyTo(testbed.db.url);
      const group = uniqueName('projector');
      await startProcess(
        'projector-store-down',
        {
          LOCUS_READ_DB_URL: proxy.via(testbed.db.urlFor('LOCUS_READ_DB_URL')),
          LOCUS_TOPIC_PREFIX: prefix,
          LOCUS_PROJECTOR_GROUP: group,
          LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '500',
        },
        ['projector'],
      );
      await produceMixed(testbed.producer, topicNames(prefix), new EventWriter(), seededRandom(7), {
        categories: 4,
        products: 200,
        reviews: 2_000,
        edits: 1_500,
      });
      await waitFor('the first batches applied', async () => (await storedTotal(testbed.pool, group)) > 0);
      await proxy.cut();
      await sleep(3_000); // a failed batch or two, and a retry
      await expectStopsWithinGrace('projector-store-down');
    } finally {
      await testbed.close();
    }
  });

  it('a supervised process whose supervisor is SIGKILLed: it stops too, within its grace period', async () => {
    const database = await createTestDatabase('catalog');
    databases.push(database);
    const supervising = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(import.meta.dirname, 'fixtures/supervisor-child.ts'),
        path.join(logDir, 'orphan'),
      ],
      {
        env: {
          ...process.env,
          ...database.env,
          LOCUS_CATALOG_PORT: String(await freePort()),
          LOCUS_SHUTDOWN_GRACE_MS: String(GRACE_MS),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const catalogPid = await new Promise<number>((resolve, reject) => {
      supervising.stdout.setEncoding('utf8').once('data', (line: string) => resolve(Number(line.trim())));
      supervising.once('exit', () => reject(new Error('the supervising process ended before the catalog')));
    });
    const descendants = [catalogPid, ...descendantsOf(catalogPid)];
    supervising.kill('SIGKILL');
    const started = performance.now();
    await waitFor(
      'the orphaned catalog to exit',
      async () => descendants.every((pid) => !alive(pid)),
      GRACE_MS + EXIT_SLACK_MS,
    ).finally(() => descendants.filter(alive).forEach((pid) => process.kill(pid, 'SIGKILL')));
    expect(performance.now() - started).toBeLessThanOrEqual(GRACE_MS + EXIT_SLACK_MS);
  });

  it('run through npm (npm run locus -- catalog), which dies of SIGTERM without passing it on: the catalog stops too', async () => {
    const database = await createTestDatabase('catalog');
    databases.push(database);
    const port = await freePort();
    const npm = spawn('npm', ['run', '--silent', 'locus', '--', 'catalog'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...database.env,
        LOCUS_CATALOG_PORT: String(port),
        LOCUS_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      },
      stdio: 'ignore',
    });
    await waitFor('the catalog to answer', async () => (await healthOf(port)).status === 200, 60_000);
    const descendants = descendantsOf(npm.pid!);
    npm.kill('SIGTERM');
    const started = performance.now();
    await waitFor(
      'the catalog npm ran to exit',
      async () => descendants.every((pid) => !alive(pid)),
      GRACE_MS + EXIT_SLACK_MS,
    ).finally(() => descendants.filter(alive).forEach((pid) => process.kill(pid, 'SIGKILL')));
    expect(performance.now() - started).toBeLessThanOrEqual(GRACE_MS + EXIT_SLACK_MS);
  });

  describe.skipIf(!FAULT_LISTENER || !FAULT_PROXY)('the broker down (the Kafka fault listener)', () => {
    let proxy: TcpProxy;
    let testbed: ProjectorTestbed;
    let catalogDb: TestDatabase;
    const prefix = uniqueTopicPrefix();
    const group = uniqueName('projector');

    beforeAll(async () => {
      proxy = await startTcpProxy(endpointOf(FAULT_LISTENER!), endpointOf(FAULT_PROXY!).port);
      proxies.push(proxy);
      testbed = await openProjectorTestbed({ prefix, clientId: 'shutdown-test-broker', poolSize: 2, logger });
      catalogDb = await createTestDatabase('catalog');
      databases.push(catalogDb);
    });
    afterAll(async () => {
      await testbed?.close();
    });

    it('relay publishing and projector consuming when the broker goes away', async () => {
      await startProcess(
        'relay-broker-down',
        {
          ...catalogDb.env,
          LOCUS_MONGO_URL: uniqueMongoUrl().url,
          LOCUS_KAFKA_BROKERS: FAULT_PROXY!,
          LOCUS_TOPIC_PREFIX: prefix,
        },
        ['relay'],
      );
      await startProcess(
        'projector-broker-down',
        {
          ...testbed.db.env,
          LOCUS_KAFKA_BROKERS: FAULT_PROXY!,
          LOCUS_TOPIC_PREFIX: prefix,
          LOCUS_PROJECTOR_GROUP: group,
        },
        ['projector'],
      );
      await proxy.cut();
      const db = createKysely<CatalogDb>(createPool(catalogDb.url, { applicationName: 'shutdown-test' }));
      await appendInterleaved(db, topicNames(prefix).products, 20, 5);
      await db.destroy();
      await sleep(3_000); // the relay's send is retrying
      await Promise.all([
        // The relay abandons the batch whose send kafkajs is retrying: it stays pending, to be re-sent.
        expectStopsWithinGrace('relay-broker-down', { socketsClosed: true }),
        expectStopsWithinGrace('projector-broker-down'),
      ]);
    });
  });
});
