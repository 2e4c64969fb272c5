import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import {
  PROJECTOR_SETTINGS,
  startProjectorProcess,
  type ProjectorConfig,
  type ProjectorProcess,
} from '../../src/apps/projector.js';
import { createBroker, type Broker, type MessageProducer } from '../../src/messaging/kafka.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { systemClock } from '../../src/shared/clock.js';
import { loadConfig } from '../../src/shared/config.js';
import { createPool } from '../../src/shared/postgres.js';
import { deadLetterTopic, topicNames, topicSpecs, type Topics } from '../../src/contracts/topics.js';
import { createTestDatabase, type TestDatabase } from '../../testkit/isolation.js';
import { authHeaders, sendingDevToken } from '../support/auth.js';
import { setupTestTopics, testKafkaCredentials } from '../support/kafka.js';

// What projector tests need around the testkit: test beds, projector processes, polling.

export async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The environment of a projector on the test's database, topics and group (any free port, quiet logs). */
export function projectorTestEnv(db: TestDatabase, prefix: string, group: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...db.env,
    LOCUS_TOPIC_PREFIX: prefix,
    LOCUS_PROJECTOR_GROUP: group,
    LOCUS_PROJECTOR_PORT: '0',
    LOCUS_LOG_LEVEL: 'error',
  };
}

export function projectorConfig(db: TestDatabase, prefix: string, group: string): ProjectorConfig {
  return loadConfig(PROJECTOR_SETTINGS, projectorTestEnv(db, prefix, group));
}

/** What GET /admin/rebuild answers. */
export interface RebuildStatusBody {
  state: 'idle' | 'running' | 'done' | 'failed';
  phase?: string;
  applied: number;
  total: number;
  error?: string;
}

/** Polls the projector's GET /admin/rebuild until the rebuild it started is no longer running. */
export async function rebuildFinished(
  app: ProjectorProcess['app'],
  timeoutMs = 60_000,
): Promise<RebuildStatusBody> {
  let status: RebuildStatusBody = { state: 'running', applied: 0, total: 0 };
  await waitFor(
    'rebuild',
    async () => {
      status = (
        await app.inject({ method: 'GET', url: '/admin/rebuild', headers: authHeaders() })
      ).json<RebuildStatusBody>();
      return status.state !== 'running';
    },
    timeoutMs,
  );
  return status;
}

/** True once the consumer's stored positions reach every partition's end offset. */
export async function caughtUp(
  db: pg.Pool,
  broker: Broker,
  topics: Topics,
  consumer: string,
): Promise<boolean> {
  const ends = (
    await Promise.all([topics.products, topics.categories, topics.reviews].map((t) => broker.endOffsets(t)))
  ).flat();
  const stored = await db.query<{ topic: string; partition: number; next_offset: string }>(
    'SELECT topic, partition, next_offset FROM projector_positions WHERE consumer = $1',
    [consumer],
  );
  const at = new Map(stored.rows.map((r) => [`${r.topic}/${r.partition}`, Number(r.next_offset)]));
  return ends.every((end) => (at.get(`${end.topic}/${end.partition}`) ?? 0) >= Number(end.offset));
}

export interface ProjectorTestbed {
  db: TestDatabase;
  pool: pg.Pool;
  broker: Broker;
  producer: MessageProducer;
  /** Deletes the topics (dead-letter topic included), closes the clients, drops the database. */
  close(): Promise<void>;
}

/**
 * What every projector integration test stands on: a read-store database of its own, a pool on it,
 * the topics of `prefix` created, and a producer to write events into them.
 */
export async function openProjectorTestbed(options: {
  prefix: string;
  clientId: string;
  poolSize: number;
  logger: Parameters<typeof createBroker>[0]['logger'];
}): Promise<ProjectorTestbed> {
  const topics = topicNames(options.prefix);
  // Topics and ACLs as `locus migrate` sets them up, so a projector under test runs as its own user.
  await setupTestTopics(options.prefix);
  const db = await createTestDatabase('readmodel');
  // createPool, like the processes: a session the server ends (DROP DATABASE … WITH (FORCE), a restart)
  // while idle in the pool must not become an uncaught exception that fails the whole run.
  const pool = createPool(db.url, { applicationName: 'locus-test-projector', max: options.poolSize });
  const broker = createBroker({
    brokers: process.env.LOCUS_KAFKA_BROKERS!,
    credentials: testKafkaCredentials(),
    clientId: options.clientId,
    logger: options.logger,
  });
  await broker.ensureTopics(topicSpecs(topics));
  const producer = await broker.producer();
  return {
    db,
    pool,
    broker,
    producer,
    async close() {
      await producer.close();
      await broker.deleteTopics([
        topics.products,
        topics.categories,
        topics.reviews,
        deadLetterTopic(options.prefix),
      ]);
      await broker.close();
      await pool.end();
      await db.drop();
    },
  };
}

/** A suite's test bed and the projector running on it; set by the suite's beforeAll. */
export interface ProjectorSuite extends Omit<ProjectorTestbed, 'close'> {
  running: ProjectorProcess;
}

/**
 * Registers a suite's beforeAll and afterAll: a test bed of its own (see openProjectorTestbed) and
 * the real projector composition root running on it in this process, without a port, as consumer
 * `group`; its routes are sent the dev token. The fields are set by the beforeAll: read them in
 * tests and hooks, not while the suite is collected.
 * @example const suite = projectorPerSuite({ prefix, group, clientId: 'poison-test', poolSize: 3, logger });
 */
export function projectorPerSuite(
  options: Parameters<typeof openProjectorTestbed>[0] & { group: string },
): ProjectorSuite {
  const suite = {} as ProjectorSuite;
  let testbed: ProjectorTestbed | undefined;
  beforeAll(async () => {
    testbed = await openProjectorTestbed(options);
    const { db, pool, broker, producer } = testbed;
    const config = projectorConfig(db, options.prefix, options.group);
    const running = await startProjectorProcess(config, systemClock, options.logger, { listen: false });
    sendingDevToken(running.app);
    Object.assign(suite, { db, pool, broker, producer, running });
  });
  afterAll(async () => {
    await suite.running?.process.close();
    await testbed?.close();
  });
  return suite;
}

// ---------------------------------------------------------------- projectors as real processes

/**
 * The real composition root in its own process, as `locus projector run` starts it, on the test's
 * database, topics and group; `env` adds or overrides settings (crash and pause points, ports).
 */
export function spawnProjector(
  db: TestDatabase,
  prefix: string,
  group: string,
  env: Record<string, string> = {},
): ChildProcess {
  return spawnProjectorCommand(['run'], db, prefix, group, env);
}

/** `locus projector <args…>` (run, rebuild, dlq …) in its own process, as spawnProjector does it. */
export function spawnProjectorCommand(
  args: readonly string[],
  db: TestDatabase,
  prefix: string,
  group: string,
  env: Record<string, string> = {},
): ChildProcess {
  return spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'projector', ...args], {
    env: { ...projectorTestEnv(db, prefix, group), ...env },
    // DEBUG_CHILD=1 shows the child's logs when a test needs explaining
    stdio: process.env.DEBUG_CHILD ? 'inherit' : 'ignore',
  });
}

/** Resolves with the signal (or `exit code N`) the child ended with, or 'still running' after `timeoutMs`. */
export function exitOf(child: ChildProcess, timeoutMs: number): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.signalCode ?? `exit code ${child.exitCode}`);
  return new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('still running'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ?? `exit code ${code}`);
    });
  });
}

/** True while the process is stopped (SIGSTOP, a pause point): `ps` shows its state as T. */
export function isStopped(pid: number): boolean {
  try {
    return execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' })
      .trim()
      .startsWith('T');
  } catch {
    return false; // no such process
  }
}

/** Next offsets stored for `consumer`, summed over its partitions: how far it has committed. */
export async function storedTotal(db: pg.Pool, consumer: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT coalesce(sum(next_offset), 0) AS n FROM projector_positions WHERE consumer = $1',
    [consumer],
  );
  return Number(rows[0]?.n ?? 0);
}
