import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProjectorProcess, type ProjectorProcess } from '../../src/apps/projector.js';
import { topicNames } from '../../src/contracts/topics.js';
import { VIEW_TABLE_NAMES } from '../../src/projector/projection.types.js';
import { systemClock } from '../../src/shared/clock.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import {
  caughtUp,
  exitOf,
  openProjectorTestbed,
  projectorConfig,
  spawnProjectorCommand,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';
import { EventWriter, mixedStream, produce } from '../../testkit/events.js';
import { expectedViews } from '../../testkit/model.js';
import { readViews } from '../../testkit/views.js';
import { seededRandom } from '../../testkit/random.js';

const logger = createLogger('projector-rebuild-crash-test', 'error');

describe('projector rebuild killed on the way', () => {
  const prefix = uniqueTopicPrefix();
  const topics = topicNames(prefix);
  const group = uniqueName('projector');
  const writer = new EventWriter();
  const random = seededRandom(17);
  let testbed: ProjectorTestbed;
  let live: ProjectorProcess;

  /** `locus projector rebuild` as an operator runs it, in small transactions so it has many. */
  const rebuild = async (env: Record<string, string> = {}) => {
    const child = spawnProjectorCommand(['rebuild'], testbed.db, prefix, group, {
      LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '300',
      ...env,
    });
    return exitOf(child, 120_000);
  };
  /** Every view table's name with `suffix`, in the order rebuildTables lists them. */
  const suffixed = (suffix: string) => VIEW_TABLE_NAMES.map((table) => `${table}${suffix}`).sort();
  /** The tables a rebuild works in: `__next` while it replays, `__old` between its swap and cleanup. */
  const rebuildTables = async () =>
    (
      await testbed.pool.query<{ relname: string }>(
        `SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ '__(next|old)$' ORDER BY 1`,
      )
    ).rows.map((row) => row.relname);
  /** Writes more events, waits for the live projector and compares the views with the model. */
  const liveViewsFollow = async (size: Parameters<typeof mixedStream>[2]) => {
    const sent = writer.events.length;
    mixedStream(writer, random, size);
    await produce(testbed.producer, topics, writer.events.slice(sent));
    await waitFor('live catch-up', () => caughtUp(testbed.pool, testbed.broker, topics, group), 120_000);
    expect(await readViews(testbed.pool)).toEqual(expectedViews(writer.events));
  };

  beforeAll(async () => {
    testbed = await openProjectorTestbed({
      prefix,
      clientId: 'projector-rebuild-crash-test',
      poolSize: 3,
      logger,
    });
    live = await startProjectorProcess(projectorConfig(testbed.db, prefix, group), systemClock, logger, {
      listen: false,
    });
    await liveViewsFollow({ categories: 6, products: 200, reviews: 2_500, edits: 1_500 });
  });

  afterAll(async () => {
    await live?.process.close();
    await testbed?.close();
  });

  it('given a rebuild killed in the middle of its replay, when the live projector goes on, then the live views stay whole and correct, and the killed rebuild leaves only its __next tables', async () => {
    // when: the rebuild process dies before its 5th COMMIT (its batches share the projector's crash points)
    expect(await rebuild({ LOCUS_CRASH_AT: 'projector.before-commit:5' })).toBe('SIGKILL');

    // then
    expect(await rebuildTables()).toEqual(suffixed('__next'));
    const rebuilt = await testbed.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM review_view__next',
    );
    expect(rebuilt.rows[0]!.n).toBeGreaterThan(0); // it had committed batches before it died
    await liveViewsFollow({ categories: 1, products: 30, reviews: 300, edits: 200 });
  }, 180_000);

  it('given a rebuild killed right after its swap committed, then the rebuilt views are live and correct, the old tables are left over, and the live projector keeps them current', async () => {
    // when
    expect(await rebuild({ LOCUS_CRASH_AT: 'rebuild.after-swap' })).toBe('SIGKILL');

    // then: the tables of the interrupted rebuild are gone, the swapped-out ones wait for cleanup
    expect(await rebuildTables()).toEqual(suffixed('__old'));
    await liveViewsFollow({ categories: 1, products: 30, reviews: 300, edits: 200 });
  }, 180_000);

  it('given what killed rebuilds left behind, when a rebuild runs to the end, then it exits 0, leaves no rebuild tables, and the views are correct', async () => {
    // when
    expect(await rebuild()).toBe('exit code 0');

    // then
    expect(await rebuildTables()).toEqual([]);
    await liveViewsFollow({ categories: 1, products: 30, reviews: 300, edits: 200 });
  }, 180_000);
});
