import type { ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import type { Topics } from '../../src/contracts/topics.js';
import { healthOf } from '../support/health.js';
import type { TestDatabase } from '../../testkit/isolation.js';
import { freePort } from '../../testkit/ports.js';
import { caughtUp, exitOf, spawnProjector, waitFor, type ProjectorTestbed } from './projector.fixtures.js';
import { expectedViews } from '../../testkit/model.js';
import { readViews } from '../../testkit/views.js';
import { type EventWriter } from '../../testkit/events.js';

/** A spawned projector on a port of its own, for outage tests: its /health, and its clean-up. */
export interface WatchedProjector {
  child: ChildProcess;
  health(): ReturnType<typeof healthOf>;
  /** SIGKILLs it when it still runs, and waits for it to go. */
  kill(): Promise<void>;
}

/**
 * spawnProjector with a free port, small transactions (500 events, so a stream has many) and "stuck"
 * after 2 s; `env` points it through a proxy to the store or the broker an outage takes away.
 */
export async function spawnWatchedProjector(
  db: TestDatabase,
  prefix: string,
  group: string,
  env: Record<string, string>,
): Promise<WatchedProjector> {
  const port = await freePort();
  const child = spawnProjector(db, prefix, group, {
    LOCUS_PROJECTOR_PORT: String(port),
    LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '500',
    LOCUS_PROJECTOR_STUCK_SECONDS: '2',
    ...env,
  });
  return {
    child,
    health: () => healthOf(port),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exitOf(child, 10_000);
    },
  };
}

/**
 * What every outage must end in, once what was cut is back: the projector caught up, healthy, still
 * the same process, nothing parked as a dead letter (an outage is not the events' fault), and the
 * views equal to the model of every event written.
 */
export async function expectRecoveredFromOutage(
  testbed: ProjectorTestbed,
  topics: Topics,
  group: string,
  projector: WatchedProjector,
  writer: EventWriter,
): Promise<void> {
  const { pool, broker } = testbed;
  await waitFor('catch-up', () => caughtUp(pool, broker, topics, group), 120_000);
  await waitFor('/health to recover', async () => (await projector.health()).status === 200, 30_000);
  expect(projector.child.exitCode).toBeNull();
  const parked = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
  expect(parked.rows[0]?.n).toBe(0);
  expect(await readViews(pool)).toEqual(expectedViews(writer.events));
}
