import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/contracts/topics.js';
import { createLogger } from '../../src/shared/logger.js';
import { uniqueName, uniqueTopicPrefix } from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';
import {
  caughtUp,
  exitOf,
  isStopped,
  openProjectorTestbed,
  spawnProjector,
  storedTotal,
  waitFor,
  type ProjectorTestbed,
} from './projector.fixtures.js';
import { EventWriter, produceMixed } from '../../testkit/events.js';
import { expectedViews } from '../../testkit/model.js';
import { readViews } from '../../testkit/views.js';
import { seededRandom } from '../../testkit/random.js';

const logger = createLogger('projector-zombie-test', 'error');

/**
 * A zombie is a projector that stopped without dying: a frozen VM, a long stop-the-world pause. The
 * group's session times out (30 s), another projector takes its partitions and moves on, and then the
 * zombie wakes up with what it held. Here the real process freezes itself with SIGSTOP at a named step
 * (LOCUS_PAUSE_AT) and the test wakes it with SIGCONT.
 */
describe('a frozen (zombie) projector', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Its own database, topics and group; the children are killed (and woken, to die) afterwards. */
  const scenario = async () => {
    const prefix = uniqueTopicPrefix();
    const topics = topicNames(prefix);
    const group = uniqueName('projector');
    const testbed: ProjectorTestbed = await openProjectorTestbed({
      prefix,
      clientId: 'projector-zombie-test',
      poolSize: 3,
      logger,
    });
    const children: ChildProcess[] = [];
    cleanups.push(async () => {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          child.kill('SIGCONT'); // a stopped process dies of SIGKILL too; this only hurries its exit
          await exitOf(child, 10_000);
        }
      await testbed.close();
    });
    const start = (env: Record<string, string>) => {
      // small transactions, so the pause at the 3rd batch leaves events before and after it
      const child = spawnProjector(testbed.db, prefix, group, {
        LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '500',
        ...env,
      });
      children.push(child);
      return child;
    };
    const writer = new EventWriter();
    const random = seededRandom(31);
    await produceMixed(testbed.producer, topics, writer, random, {
      categories: 6,
      products: 300,
      reviews: 3_000,
      edits: 2_000,
    });
    /** More changes, to the same products and reviews too, for the projector that takes over. */
    const produceLaterChanges = () =>
      produceMixed(testbed.producer, topics, writer, random, {
        categories: 2,
        products: 50,
        reviews: 500,
        edits: 1_500,
      });
    const frozen = async (child: ChildProcess) => {
      await waitFor('the projector to freeze at its pause point', async () => isStopped(child.pid!), 60_000);
    };
    const allApplied = () =>
      waitFor(
        'the projector that took over to catch up',
        () => caughtUp(testbed.pool, testbed.broker, topics, group),
        150_000,
      );
    return { testbed, group, writer, start, produceLaterChanges, frozen, allApplied };
  };

  const skippedBy = async (port: number): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('locus_projector_events_skipped_total{'));
    return Number(line?.split(' ').pop() ?? 0);
  };

  it('given a projector frozen with fetched batches before its transaction, when another one takes its partitions and moves on, then the zombie wakes up, skips its stale batch and changes nothing', async () => {
    // given
    const { testbed, group, writer, start, produceLaterChanges, frozen, allApplied } = await scenario();
    const zombiePort = await freePort();
    const zombie = start({
      LOCUS_PAUSE_AT: 'projector.before-open:3',
      LOCUS_PROJECTOR_PORT: String(zombiePort),
    });
    await frozen(zombie);
    const committedByZombie = await storedTotal(testbed.pool, group);
    expect(committedByZombie).toBeGreaterThan(0); // its first two batches
    expect(committedByZombie).toBeLessThan(writer.events.length);

    // when: another projector takes over (once the zombie's session expires) and goes past the zombie's batch
    start({});
    await produceLaterChanges();
    await allApplied();
    const before = await readViews(testbed.pool);
    zombie.kill('SIGCONT');

    // then: the zombie's batch met the positions stored after it, and nothing changed
    await waitFor(
      'the woken zombie to reach its stale batch',
      async () => (await skippedBy(zombiePort)) > 0,
      30_000,
    );
    expect(zombie.exitCode).toBeNull();
    await allApplied();
    expect(await readViews(testbed.pool)).toEqual(before);
    expect(before).toEqual(expectedViews(writer.events));
  }, 300_000);

  it('given a projector frozen inside its transaction holding the consumer lock, when the read store ends that transaction, then the one that took over applies everything and the zombie commits nothing', async () => {
    // given
    const { testbed, writer, start, produceLaterChanges, frozen, allApplied } = await scenario();
    const zombiePort = await freePort();
    const zombie = start({
      LOCUS_PAUSE_AT: 'projector.before-commit:3',
      LOCUS_PROJECTOR_IDLE_TX_TIMEOUT_SECONDS: '3',
      LOCUS_PROJECTOR_PORT: String(zombiePort),
    });
    await frozen(zombie);
    const idleInTransaction = async () =>
      Number(
        (
          await testbed.pool.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'locus-projector'
               AND state = 'idle in transaction'`,
          )
        ).rows[0]?.n,
      );
    // the read store ends the frozen transaction (and with it the consumer lock it held)
    await waitFor(
      'the read store to end the zombie transaction',
      async () => (await idleInTransaction()) === 0,
      30_000,
    );

    // when
    start({ LOCUS_PROJECTOR_IDLE_TX_TIMEOUT_SECONDS: '3' });
    await produceLaterChanges();
    await allApplied();
    const before = await readViews(testbed.pool);
    zombie.kill('SIGCONT');

    // then: its COMMIT finds the session gone; it resumes from the stored positions, alive and healthy
    let health = 'no answer';
    await waitFor(
      'the woken zombie to answer /health',
      async () => {
        const response = await fetch(`http://127.0.0.1:${zombiePort}/health`).catch(() => null);
        health = `${zombie.exitCode ?? zombie.signalCode ?? 'alive'}: ${response?.status} ${await response?.text()}`;
        return response?.status === 200;
      },
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message} (last: ${health})`);
    });
    expect(zombie.exitCode).toBeNull();
    await allApplied();
    expect(await readViews(testbed.pool)).toEqual(before);
    expect(before).toEqual(expectedViews(writer.events));
  }, 300_000);
});
