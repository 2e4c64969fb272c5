import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, uniqueName, withDatabase } from '../../testkit/isolation.js';

/** An empty database on the server of `serverUrl`, dropped by the returned function. */
async function emptyDatabase(
  serverUrl: string,
  prefix: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: withDatabase(serverUrl, name),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** The environment of a newcomer's shell: no LOCUS_* variable, LOCUS_HOME where `services up` wrote. */
function newcomerEnv(home: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('LOCUS_')));
  return { ...env, LOCUS_HOME: home };
}

describe('locus commands read ~/.locus/env when no LOCUS_* variable is set', () => {
  let home: string;
  let catalog: Awaited<ReturnType<typeof emptyDatabase>>;
  let read: Awaited<ReturnType<typeof emptyDatabase>>;

  beforeAll(async () => {
    catalog = await emptyDatabase(adminUrl('catalog')!, 't_envfile_catalog');
    read = await emptyDatabase(adminUrl('readmodel')!, 't_envfile_read');
    home = mkdtempSync(path.join(os.tmpdir(), 'locus-home-'));
    writeFileSync(
      path.join(home, 'env'),
      [
        '# written by services up',
        `LOCUS_CATALOG_ADMIN_URL=${catalog.url}`,
        `LOCUS_CATALOG_DB_URL=${catalog.url}`,
        `LOCUS_READ_ADMIN_URL=${read.url}`,
        `LOCUS_READ_DB_URL=${read.url}`,
        `LOCUS_READ_REPLICA_URL=${process.env.LOCUS_READ_REPLICA_URL}`,
        `LOCUS_MONGO_URL=${process.env.LOCUS_MONGO_URL}`,
        `LOCUS_KAFKA_BROKERS=${process.env.LOCUS_KAFKA_BROKERS}`,
      ].join('\n'),
      { mode: 0o600 },
    );
  });

  afterAll(async () => {
    rmSync(home, { recursive: true, force: true });
    await Promise.allSettled([catalog.drop(), read.drop()]);
  });

  it('given only the env file, when a newcomer runs `locus migrate`, then it migrates the stores the file names', async () => {
    const result = spawnSync('node', ['bin/locus.js', 'migrate'], {
      env: newcomerEnv(home),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.stderr).not.toMatch(/LOCUS_CONFIG_MISSING/);
    expect(result.status).toBe(0);
    const client = new pg.Client({ connectionString: catalog.url });
    await client.connect();
    try {
      const tables = await client.query(`SELECT 1 FROM pg_tables WHERE tablename = 'outbox'`);
      expect(tables.rowCount).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('given one LOCUS_* address set, when `locus migrate` runs, then nothing is taken from the file', () => {
    const result = spawnSync('node', ['bin/locus.js', 'migrate'], {
      env: { ...newcomerEnv(home), LOCUS_KAFKA_BROKERS: '127.0.0.1:9092' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /LOCUS_CONFIG_MISSING: missing settings LOCUS_CATALOG_ADMIN_URL, LOCUS_READ_ADMIN_URL/,
    );
  });
});
