import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { deadLetterTopic, topicNames } from '../../src/contracts/topics.js';
import { createBroker } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';
import { PROCESS_NODE_FLAGS, ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../testkit/isolation.js';
import { authHeaders } from '../support/auth.js';
import { freePort } from '../../testkit/ports.js';
import { setupTestTopics, testKafkaCredentials } from '../support/kafka.js';

/** The five locus processes, each a real OS process over databases and topics of the test's own. */
export interface Pipeline {
  urls: { catalog: string; reviews: string; query: string; projector: string; relay: string };
  catalogDb: pg.Pool;
  readDb: pg.Pool;
  /** The reviews service's database. */
  mongo: MongoClient;
  mongoDatabase: string;
  topicPrefix: string;
  logDir: string;
  /** Stops the processes and drops what they used; the logs go too unless `keepLogs`. */
  close(keepLogs?: boolean): Promise<void>;
}

const PROCESSES = ['catalog', 'reviews', 'relay', 'projector', 'query'] as const;

/**
 * Starts catalog, reviews, relay, projector and query the way `locus example` does, on free ports;
 * `env` adds or overrides settings of all five (tokens, log level).
 */
export async function startPipeline(env: Record<string, string> = {}): Promise<Pipeline> {
  const [catalogDatabase, readDatabase] = await Promise.all([
    createTestDatabase('catalog'),
    createTestDatabase('readmodel'),
  ]);
  const mongoUrl = uniqueMongoUrl();
  const topicPrefix = uniqueTopicPrefix();
  // as `locus migrate` would: the relay and projector run as their own Kafka users
  await setupTestTopics(topicPrefix, env.LOCUS_PROJECTOR_GROUP ?? 'locus-projector');
  const ports = Object.fromEntries(
    await Promise.all(PROCESSES.map(async (name) => [name, await freePort()] as const)),
  ) as Record<(typeof PROCESSES)[number], number>;
  const urls = Object.fromEntries(
    PROCESSES.map((name) => [name, `http://127.0.0.1:${ports[name]}`]),
  ) as Pipeline['urls'];
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'locus-pipeline-'));
  const supervisor = new ProcessSupervisor(logDir, {
    ...process.env,
    ...catalogDatabase.env,
    ...readDatabase.env,
    LOCUS_MONGO_URL: mongoUrl.url,
    LOCUS_TOPIC_PREFIX: topicPrefix,
    LOCUS_CATALOG_URL: urls.catalog,
    LOCUS_REVIEWS_URL: urls.reviews,
    LOCUS_QUERY_PORT: String(ports.query),
    LOCUS_CATALOG_PORT: String(ports.catalog),
    LOCUS_REVIEWS_PORT: String(ports.reviews),
    LOCUS_PROJECTOR_PORT: String(ports.projector),
    LOCUS_RELAY_PORT: String(ports.relay),
    LOCUS_LOG_LEVEL: 'warn',
    ...env,
  });
  const catalogDb = new pg.Pool({ connectionString: catalogDatabase.url, max: 2 });
  const readDb = new pg.Pool({ connectionString: readDatabase.url, max: 2 });
  const mongo = await new MongoClient(mongoUrl.url).connect();
  const close = async (keepLogs = false) => {
    await supervisor.stopAll();
    await Promise.all([catalogDb.end(), readDb.end()]);
    await mongo.db(mongoUrl.database).dropDatabase();
    await mongo.close();
    await dropAll(topicPrefix, [catalogDatabase, readDatabase]);
    if (!keepLogs) rmSync(logDir, { recursive: true, force: true });
  };
  try {
    for (const name of PROCESSES) {
      await supervisor.start({
        name,
        args: [name],
        healthUrl: `${urls[name]}/health`,
        nodeArgs: PROCESS_NODE_FLAGS[name],
      });
    }
  } catch (error) {
    await close(true);
    throw error;
  }
  return { urls, catalogDb, readDb, mongo, mongoDatabase: mongoUrl.database, topicPrefix, logDir, close };
}

async function dropAll(topicPrefix: string, databases: TestDatabase[]): Promise<void> {
  const broker = createBroker({
    brokers: process.env.LOCUS_KAFKA_BROKERS!,
    credentials: testKafkaCredentials(),
    clientId: 'pipeline-cleanup',
    logger: createLogger('pipeline-cleanup', 'warn'),
  });
  const topics = topicNames(topicPrefix);
  await Promise.all([
    ...databases.map((database) => database.drop()),
    broker
      .deleteTopics([topics.products, topics.categories, topics.reviews, deadLetterTopic(topicPrefix)])
      .catch(() => undefined)
      .finally(() => broker.close()),
  ]);
}

export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  /** The body exactly as it came, before any parsing. */
  text: string;
  body: T;
}

/**
 * One HTTP request with a raw JSON text body (so a test can send escapes such as `\ud800` as is), with
 * the dev token unless `headers` names its own `authorization`.
 */
export async function call<T = unknown>(
  method: string,
  url: string,
  rawBody?: string,
  extraHeaders: Record<string, string> = {},
): Promise<Answer<T>> {
  const headers = { ...authHeaders(), ...extraHeaders };
  const response = await fetch(url, {
    method,
    headers: rawBody === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: rawBody,
  });
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, text, body: body as T };
}

/** Polls `attempt` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  attempt: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** JSON with every object's keys sorted: jsonb keeps keys in its own order, every value as it came. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}
