import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../testkit/isolation.js';

describe('read store replica', () => {
  let db: TestDatabase;
  let primary: pg.Client;
  let replica: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('readmodel');
    primary = new pg.Client({ connectionString: db.url });
    await primary.connect();
    // The new database reaches the replica by WAL; wait for it before connecting there.
    replica = await connectWhenReplicated(db.replicaUrl);
    await primary.query('CREATE TABLE smoke (id int PRIMARY KEY, note text)');
    // The replica is read as the query service reads it, by a role that sees only what it is granted.
    const replicaRole = decodeURIComponent(new URL(db.replicaUrl).username);
    await primary.query(`GRANT SELECT ON smoke TO ${primary.escapeIdentifier(replicaRole)}`);
    // The table itself arrives by WAL too; measure row lag only once it is there.
    await waitFor(async () => {
      const { rows } = await replica.query<{ present: boolean }>(
        "SELECT to_regclass('smoke') IS NOT NULL AS present",
      );
      return rows[0]?.present === true;
    });
  });

  afterAll(async () => {
    await replica?.end();
    await primary?.end();
    await db?.drop();
  });

  it('is a hot standby in recovery', async () => {
    const { rows } = await replica.query<{ in_recovery: boolean }>(
      'SELECT pg_is_in_recovery() AS in_recovery',
    );
    expect(rows[0]?.in_recovery).toBe(true);
  });

  it('shows a row committed on the primary, within a measured lag', async () => {
    const lags: number[] = [];
    for (let id = 1; id <= 20; id++) {
      const committedAt = performance.now();
      await primary.query('INSERT INTO smoke (id, note) VALUES ($1, $2)', [id, `row ${id}`]);
      for (;;) {
        const { rows } = await replica.query<{ note: string }>('SELECT note FROM smoke WHERE id = $1', [id]);
        if (rows[0]) {
          expect(rows[0].note).toBe(`row ${id}`);
          break;
        }
        if (performance.now() - committedAt > 10_000) throw new Error(`row ${id} never reached the replica`);
        await sleep(1);
      }
      lags.push(performance.now() - committedAt);
    }
    lags.sort((a, b) => a - b);
    console.log(
      `replica visibility lag over ${lags.length} commits: p50 ${lags[10]?.toFixed(1)} ms, max ${lags.at(-1)?.toFixed(1)} ms`,
    );
    expect(lags).toHaveLength(20);
  });

  it('refuses writes as read-only', async () => {
    await expect(replica.query("INSERT INTO smoke (id, note) VALUES (999, 'nope')")).rejects.toMatchObject({
      code: '25006', // read_only_sql_transaction
    });
  });
});

async function connectWhenReplicated(url: string): Promise<pg.Client> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}
