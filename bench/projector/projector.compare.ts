import { applyChanges } from '../../src/projector/apply-changes.js';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/session-settings.js';
import { viewTables, withTransaction, type Change } from '../../src/projector/projection.types.js';
import { createPool } from '../../src/shared/postgres.js';
import type { StreamEvent } from '../../testkit/events.js';
import { createTestDatabase } from '../../testkit/isolation.js';
import { progressBar } from '../lib/progress.js';
import { decodeAll, encodeAll } from './decode.js';

/** Applies the same changes twice into fresh databases: set-based per 1,000, then one call per event. */
export async function compareBatching(events: StreamEvent[]) {
  const changes = decodeAll(encodeAll(events));
  const batched = await applyRate(changes, 'batched', false);
  const perEvent = await applyRate(changes, 'per_event', true);
  return {
    events: changes.length,
    batchedPerSecond: Math.round(batched),
    perEventPerSecond: Math.round(perEvent),
    speedup: Number((batched / perEvent).toFixed(1)),
    target: 5,
  };
}

export type BatchingComparison = Awaited<ReturnType<typeof compareBatching>>;

/** Events/s applying `changes` in transactions of 1,000 into a fresh read store (dropped after). */
async function applyRate(changes: Change[], label: string, perEvent: boolean): Promise<number> {
  const db = await createTestDatabase('readmodel');
  const pool = createPool(db.url, {
    applicationName: 'bench-compare',
    max: 1,
    sessionSettings: PROJECTOR_SESSION_SETTINGS,
  });
  const bar = progressBar(`${label} [{bar}] {value}/{total}`);
  bar.start(changes.length, 0);
  const started = performance.now();
  try {
    for (let i = 0; i < changes.length; i += 1_000) {
      const slice = changes.slice(i, i + 1_000);
      await withTransaction(pool, async (tx) => {
        if (perEvent) for (const change of slice) await applyChanges(tx, viewTables(), [change]);
        else await applyChanges(tx, viewTables(), slice);
      });
      bar.update(i + slice.length);
    }
  } finally {
    bar.stop();
    await pool.end();
    await db.drop();
  }
  return changes.length / ((performance.now() - started) / 1000);
}
