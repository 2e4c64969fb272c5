import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import {
  caughtUp,
  exitOf,
  openProjectorTestbed,
  storedTotal,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';
import { EventWriter, produceMixed } from '../../testkit/events.js';
import { expectedViews } from '../../testkit/model.js';
import { readViews } from '../../testkit/views.js';
import { seededRandom } from '../../testkit/random.js';
import { spawnWatchedProjector, type WatchedProjector } from './outage.fixtures.js';

const logger = createLogger('projector-rebalance-test', 'error');

describe('projectors sharing one consumer group', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const writer = new EventWriter();
  const random = seededRandom(53);
  const projectors: WatchedProjector[] = [];
  let testbed: ProjectorTestbed;

  /**
   * A projector in small transactions (a stream is many batches, so a rebalance lands in the middle
   * of one), once it answers: a SIGTERM while Node is still loading it would only test Node's default.
   * Not "stuck" for 30 s: a newcomer waiting for partitions sees the group's lag and no progress of its own.
   */
  const start = async () => {
    const projector = await spawnWatchedProjector(testbed.db, prefix, group, {
      LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '300',
      LOCUS_PROJECTOR_STUCK_SECONDS: '30',
    });
    projectors.push(projector);
    await waitFor('the projector to answer', async () => (await projector.health()).status === 200, 60_000);
    return projector.child;
  };
  const produceMore = (size: Parameters<typeof produceMixed>[4]) =>
    produceMixed(testbed.producer, topics, writer, random, size);
  const committed = () => storedTotal(testbed.pool, group);

  beforeAll(async () => {
    testbed = await openProjectorTestbed({
      prefix,
      clientId: 'projector-rebalance-test',
      poolSize: 3,
      logger,
    });
  });

  afterAll(async () => {
    await Promise.all(projectors.map((projector) => projector.kill()));
    await testbed?.close();
  });

  it('given two projectors splitting a stream, when one is stopped (SIGTERM) and then a new one joins and the other is killed (SIGKILL), all mid-stream, then every change is applied once', async () => {
    // given
    const [first, second] = await Promise.all([start(), start()]);
    await produceMore({ categories: 6, products: 300, reviews: 5_000, edits: 3_000 });
    await waitFor('some progress', async () => (await committed()) > 1_500, 60_000);

    // when: a rolling restart — one stops gracefully mid-stream while events keep coming…
    first.kill('SIGTERM');
    await produceMore({ categories: 1, products: 50, reviews: 1_500, edits: 1_000 });
    expect(await exitOf(first, 30_000)).toBe('exit code 0');
    const third = await start();
    await produceMore({ categories: 1, products: 50, reviews: 1_500, edits: 1_000 });
    await waitFor(
      'the new pair to catch up',
      () => caughtUp(testbed.pool, testbed.broker, topics, group),
      150_000,
    );
    // …and the other dies on the spot in the middle of the next stream
    await produceMore({ categories: 1, products: 50, reviews: 2_000, edits: 1_500 });
    second.kill('SIGKILL');

    // then: the last one standing takes every partition (after the dead member's session expires)
    await waitFor('catch-up', () => caughtUp(testbed.pool, testbed.broker, topics, group), 150_000);
    expect(third.exitCode).toBeNull();
    expect(await readViews(testbed.pool)).toEqual(expectedViews(writer.events));
  }, 300_000);
});
