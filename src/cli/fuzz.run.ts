import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { deadLetterTopic, topicNames } from '../contracts/topics.js';
import { createBroker } from '../messaging/kafka.js';
import { kafkaCredentials } from '../messaging/kafka-credentials.js';
import { bearerHeader } from '../shared/auth.tokens.js';
import { createLogger } from '../shared/logger.js';
// The tests' helpers for a fresh, migrated database per run: the fuzz run must not touch the
// databases, topics or consumer group of the example, a developer's processes or another run.
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueName,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../testkit/isolation.js';
import { setupTestTopics } from '../../test/support/kafka.js';
import { LOCUS_HOME } from './services.command.js';

export const PROCESSES = ['catalog', 'reviews', 'relay', 'projector', 'query'] as const;
type ProcessName = (typeof PROCESSES)[number];

/** What one fuzz run made for itself: stores, topics, ports, a token, and the processes' env. */
export interface FuzzRun {
  runId: string;
  /** Logs and reports of the run. */
  outDir: string;
  ports: Record<ProcessName, number>;
  catalogDb: TestDatabase;
  readDb: TestDatabase;
  mongo: { url: string; database: string };
  topicPrefix: string;
  /** A token for this run only, with every scope: the processes accept it, schemathesis sends it. */
  token: string;
  env: NodeJS.ProcessEnv;
}

/** Prints a step of the run as a headline. */
export function step(message: string): void {
  console.log(`\n▸ ${message}`);
}

/** Creates the run's databases, topics and token; the processes listen from `portBase` on. */
export async function prepareRun(portBase: number): Promise<FuzzRun> {
  const runId = uniqueName('fuzz');
  const outDir = path.join(LOCUS_HOME, 'logs', 'fuzz', runId);
  mkdirSync(outDir, { recursive: true });
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
  return { runId, outDir, ports, catalogDb, readDb, mongo, topicPrefix, token, env };
}

/** Drops the run's databases and topics; a failure to drop one does not stop the others. */
export async function dropRun(run: FuzzRun): Promise<void> {
  const broker = createBroker({
    brokers: process.env.LOCUS_KAFKA_BROKERS!,
    clientId: 'locus-fuzz-cleanup',
    logger: createLogger('fuzz', 'warn'),
    credentials: kafkaCredentials('admin'),
  });
  const topics = topicNames(run.topicPrefix);
  const client = new MongoClient(run.mongo.url);
  await Promise.allSettled([
    run.catalogDb.drop(),
    run.readDb.drop(),
    client
      .db()
      .dropDatabase()
      .finally(() => client.close()),
    broker
      .deleteTopics([topics.products, topics.categories, topics.reviews, deadLetterTopic(run.topicPrefix)])
      .finally(() => broker.close()),
  ]);
}

/** Creates a category and a product in it through the catalog API; returns the product's id. */
export async function createProduct(run: FuzzRun): Promise<string> {
  const catalog = `http://127.0.0.1:${run.ports.catalog}`;
  const post = async (url: string, body: unknown): Promise<{ id: string }> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearerHeader(run.token) },
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
