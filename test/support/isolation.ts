import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, type MigrationTarget } from '../../src/migrate/migrator.js';
import { createPool } from '../../src/shared/postgres.js';

/** A short unique name, safe as a database, topic or group name. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export interface TestDatabase {
  name: string;
  /** URL of the new database on the server that owns it (the read primary for the read store). */
  url: string;
  /** For the read store: the same database on the streaming replica (it arrives by WAL). */
  replicaUrl: string;
  drop(): Promise<void>;
}

/**
 * Creates a fresh database for one test file on the server of `target` and applies its migrations
 * (and procedures). For the read store the replica receives the new database by replication.
 */
export async function createTestDatabase(target: MigrationTarget): Promise<TestDatabase> {
  const serverUrl = target === 'catalog' ? process.env.LOCUS_CATALOG_DB_URL : process.env.LOCUS_READ_DB_URL;
  if (!serverUrl) throw new Error('LOCUS_* addresses are not set: is the global setup running?');
  const name = uniqueName(`t_${target}`);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(serverUrl, name);
  const pool = createPool(url, { applicationName: 'locus-test-migrate', max: 1 });
  try {
    await migrate(pool, target);
  } finally {
    await pool.end();
  }
  const replicaUrl = withDatabase(process.env.LOCUS_READ_REPLICA_URL ?? serverUrl, name);
  return {
    name,
    url,
    replicaUrl,
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** A unique topic prefix for one test file, e.g. `t_lz3k_a1b2c3.` (topics: `<prefix>products`, …). */
export function uniqueTopicPrefix(): string {
  return `${uniqueName('t')}.`;
}

/** The reviews store URL with a database of its own for one test file. */
export function uniqueMongoUrl(): { url: string; database: string } {
  const base = process.env.LOCUS_MONGO_URL;
  if (!base) throw new Error('LOCUS_MONGO_URL is not set: is the global setup running?');
  const database = uniqueName('t_reviews');
  return { url: withDatabase(base, database), database };
}
