import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProjectorProcess, type ProjectorProcess } from '../../src/apps/projector.js';
import { topicNames } from '../../src/contracts/topics.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import {
  caughtUp,
  openProjectorTestbed,
  projectorConfig,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';
import { EventWriter } from '../../testkit/events.js';

const logger = createLogger('projector-test', 'error');

describe('projector checks events before applying them', () => {
  let testbed: ProjectorTestbed;
  let running: ProjectorProcess;
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');

  beforeAll(async () => {
    testbed = await openProjectorTestbed({ prefix, clientId: 'projector-checks-test', poolSize: 4, logger });
    running = await startProjectorProcess(projectorConfig(testbed.db, prefix, group), systemClock, logger, {
      listen: false,
    });
  });

  afterAll(async () => {
    await running?.process.close();
    await testbed?.close();
  });

  it('given a well-formed product event on the reviews topic, when consumed, then it is parked and never applied', async () => {
    // given
    const writer = new EventWriter();
    const productId = writer.product({});
    const [event] = writer.events;

    // when
    await testbed.producer.send([
      { topic: topics.reviews, key: event!.key, value: JSON.stringify(event!.envelope) },
    ]);
    await waitFor('consumed', () => caughtUp(testbed.pool, testbed.broker, topics, group), 20_000);

    // then
    const letters = await testbed.pool.query<{ status: string; reason: string }>(
      'SELECT status, reason FROM dead_letters WHERE consumer = $1',
      [group],
    );
    expect(letters.rows).toEqual([
      { status: 'parked', reason: expect.stringContaining(`on topic ${topics.reviews}`) as string },
    ]);
    const applied = await testbed.pool.query('SELECT 1 FROM product_summary WHERE id = $1', [productId]);
    expect(applied.rowCount).toBe(0);
  });
});
