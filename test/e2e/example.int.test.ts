import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIZES } from '../../examples/product-catalog/dataset.js';
import { deadLetterTopic, topicNames } from '../../src/contracts/topics.js';
import { createBroker } from '../../src/messaging/kafka.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { createLogger } from '../../src/shared/logger.js';
import { verifyViews } from '../../src/verify/verify.command.js';
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueName,
  uniqueTopicPrefix,
  type TestDatabase,
} from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';
import { testKafkaCredentials } from '../support/kafka.js';

/**
 * Runs the product-catalog example small, end to end, as a user would (`locus example --exit`), in
 * its own databases, topics and ports, then checks the tour's answers and the views it left behind.
 */
describe('product-catalog example', () => {
  let catalogDb: TestDatabase;
  let readDb: TestDatabase;
  const mongo = uniqueMongoUrl();
  const topicPrefix = uniqueTopicPrefix();
  let output = '';
  let exitCode: number | null = null;

  beforeAll(async () => {
    [catalogDb, readDb] = await Promise.all([createTestDatabase('catalog'), createTestDatabase('readmodel')]);
    const env = {
      ...process.env,
      ...catalogDb.env,
      ...readDb.env,
      LOCUS_MONGO_URL: mongo.url,
      LOCUS_TOPIC_PREFIX: topicPrefix,
      // Ports and consumer group of its own: another run of this test beside it must not share them
      // (a shared group hands this run's partitions to the other run's projector and database).
      LOCUS_PROJECTOR_GROUP: uniqueName('example'),
      LOCUS_QUERY_PORT: String(await freePort()),
      LOCUS_CATALOG_PORT: String(await freePort()),
      LOCUS_REVIEWS_PORT: String(await freePort()),
      LOCUS_PROJECTOR_PORT: String(await freePort()),
      LOCUS_RELAY_PORT: String(await freePort()),
    };
    const child = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'bin/locus.js'), 'example', '--exit', '--seed', '7'],
      {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exitCode = await new Promise((resolve) => child.once('exit', resolve));
  }, 280_000);

  afterAll(async () => {
    // The example's processes created its topics; a broker left running across suites keeps them otherwise.
    const broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'example-test-cleanup',
      logger: createLogger('example-test', 'warn'),
    });
    const topics = topicNames(topicPrefix);
    await Promise.all([
      catalogDb?.drop(),
      readDb?.drop(),
      broker
        .deleteTopics([topics.products, topics.categories, topics.reviews, deadLetterTopic(topicPrefix)])
        .finally(() => broker.close()),
    ]);
  });

  it('exits cleanly after the tour', () => {
    expect(output, output).toContain('══ tour ══');
    expect(exitCode, output.slice(-3000)).toBe(0);
  });

  it('answers every tour call with 200, served by the replica', () => {
    const answers = [...output.matchAll(/^GET (\S+) → (\d{3})/gm)];
    expect(answers.length).toBeGreaterThanOrEqual(5);
    for (const [, url, status] of answers) expect(status, url).toBe('200');
    expect(output).toMatch(/locus-backend: replica/);
  });

  it('leaves views that match what it seeded', async () => {
    const client = new pg.Client({ connectionString: readDb.replicaUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{
        products: number;
        reviews: number;
        summed: number;
        histogram: number;
      }>(
        `SELECT (SELECT count(*)::int FROM product_summary) AS products,
                (SELECT count(*)::int FROM review_view) AS reviews,
                (SELECT sum(review_count)::int FROM product_summary) AS summed,
                (SELECT sum(h)::int FROM product_summary, unnest(rating_histogram) AS h) AS histogram`,
      );
      expect(rows[0]).toEqual({
        products: SIZES.small.products,
        reviews: SIZES.small.reviews,
        summed: SIZES.small.reviews,
        histogram: SIZES.small.reviews,
      });
    } finally {
      await client.end();
    }
  });

  it('passes `locus verify`: zero differences between every view and its sources', async () => {
    const report = await verifyViews({ catalog: catalogDb.url, mongo: mongo.url, readPrimary: readDb.url });
    expect(report.counts).toEqual({
      categories: SIZES.small.categories,
      products: SIZES.small.products,
      reviews: SIZES.small.reviews,
    });
    expect(report.differences).toEqual([]);
  });

  it('makes `locus verify` name a view row that drifted from its sources', async () => {
    const client = new pg.Client({ connectionString: readDb.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string }>(
        'UPDATE product_summary SET review_count = review_count + 1 WHERE id = (SELECT min(id::text)::uuid FROM product_summary) RETURNING id',
      );
      const { rows: gone } = await client.query<{ id: string }>(
        'DELETE FROM review_view WHERE id = (SELECT min(id::text)::uuid FROM review_view) RETURNING id',
      );
      const report = await verifyViews({ catalog: catalogDb.url, mongo: mongo.url, readPrimary: readDb.url });
      expect(report.differences).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            server: 'primary',
            view: 'product_summary',
            id: rows[0]!.id,
            kind: 'different',
            column: 'review_count',
          }),
          expect.objectContaining({
            server: 'primary',
            view: 'review_view',
            id: gone[0]!.id,
            kind: 'missing',
          }),
        ]),
      );
    } finally {
      await client.end();
    }
  });
});
