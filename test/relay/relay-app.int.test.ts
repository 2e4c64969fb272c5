import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/contracts/registry.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { createLogger } from '../../src/shared/logger.js';
import { aProduct, startCatalog, type CatalogFixture } from '../catalog/catalog-fixture.js';
import { uniqueMongoUrl, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { collectMessages } from './kafka-collector.js';
import { setupTestTopics, testKafkaCredentials } from '../support/kafka.js';

const logger = createLogger('relay-app-test', 'silent');
const PORT = 18_000 + Math.floor(Math.random() * 1_000);

describe('the relay process (locus relay)', () => {
  const prefix = uniqueTopicPrefix();
  let catalog: CatalogFixture;
  let broker: Broker;
  let relay: ChildProcess;

  beforeAll(async () => {
    catalog = await startCatalog(prefix);
    broker = createBroker({
      brokers: process.env.LOCUS_KAFKA_BROKERS!,
      credentials: testKafkaCredentials(),
      clientId: 'relay-app-test',
      logger,
    });
  });

  afterAll(async () => {
    if (relay && relay.exitCode === null) relay.kill('SIGKILL');
    await broker?.deleteTopics([catalog.topics.products, catalog.topics.categories, catalog.topics.reviews]);
    await broker?.close();
    await catalog?.close();
  });

  it('creates the topics, publishes catalog writes, serves health and metrics, and stops on SIGTERM', async () => {
    // given a relay process over the catalog store, its topics and ACLs set up as `locus migrate` does
    await setupTestTopics(prefix);
    relay = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'relay'], {
      env: {
        ...process.env,
        ...catalog.database.env,
        LOCUS_MONGO_URL: uniqueMongoUrl().url,
        LOCUS_TOPIC_PREFIX: prefix,
        LOCUS_RELAY_PORT: String(PORT),
        LOCUS_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    let health: Response | undefined;
    for (let i = 0; i < 150 && !health; i++) {
      health = await fetch(`http://127.0.0.1:${PORT}/health`).catch(() => undefined);
      if (!health) await sleep(100);
    }
    expect(health?.status).toBe(200);
    const checks = (await health!.json()) as { checks: Record<string, unknown> };
    expect(Object.keys(checks.checks)).toContain('relay-catalog');

    // when a product is written
    const created = await catalog.app.inject({ method: 'POST', url: '/products', payload: aProduct() });
    const id = created.json<{ id: string }>().id;

    // then its event is on the topic the relay created, and the metrics count it
    const collector = await collectMessages(broker, [catalog.topics.products]);
    const messages = await collector.waitFor(1);
    await collector.stop();
    expect(messages.map((m) => [m.key, decodeEvent(m.value).aggregateversion])).toEqual([[id, 1]]);
    const metrics = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text();
    expect(metrics).toMatch(/locus_relay_events_published_total\{[^}]*source="catalog"[^}]*\} 1/);
    expect(metrics).toMatch(/locus_relay_pending_events\{[^}]*source="catalog"[^}]*\} 0/);
    expect(metrics).toContain('locus_relay_commit_to_ack_seconds_bucket');

    // and SIGTERM stops it cleanly
    const exited = new Promise<number | null>((resolve) => relay.once('exit', resolve));
    relay.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
