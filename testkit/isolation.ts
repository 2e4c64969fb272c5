import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, type MigrationTarget } from '../src/migrate/migrator.js';
import { rolePasswords } from '../src/migrate/roles.js';
import { createPool } from '../src/shared/postgres.js';

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
  /**
   * The settings that point the locus processes at this database, each as its own role (the role
   * URLs of the environment with this database's name): spread them into a spawned process's env.
   */
  env: Readonly<Record<string, string>>;
  /** This database's URL for one process setting (so as that process's role), e.g. LOCUS_QUERY_DB_URL. */
  urlFor(setting: RoleSetting): string;
  drop(): Promise<void>;
}

/** Each store's owner URL, and the role URLs of its processes (src/migrate/roles.ts). */
const ADMIN_SETTING = { catalog: 'LOCUS_CATALOG_ADMIN_URL', readmodel: 'LOCUS_READ_ADMIN_URL' } as const;
const PRIMARY_ROLE_SETTINGS = {
  catalog: ['LOCUS_CATALOG_DB_URL', 'LOCUS_CATALOG_RELAY_DB_URL', 'LOCUS_VERIFY_CATALOG_DB_URL'],
  readmodel: ['LOCUS_READ_DB_URL', 'LOCUS_QUERY_DB_URL', 'LOCUS_VERIFY_READ_DB_URL'],
} as const;
const REPLICA_ROLE_SETTINGS = {
  catalog: [],
  readmodel: ['LOCUS_READ_REPLICA_URL', 'LOCUS_VERIFY_REPLICA_URL'],
} as const;
export type RoleSetting =
  | (typeof PRIMARY_ROLE_SETTINGS)[MigrationTarget][number]
  | (typeof REPLICA_ROLE_SETTINGS)['readmodel'][number];

/** The owner's URL of `target`'s server; before roles existed every process used the same one. */
export function adminUrl(target: MigrationTarget): string | undefined {
  return (
    process.env[ADMIN_SETTING[target]] ??
    process.env[target === 'catalog' ? 'LOCUS_CATALOG_DB_URL' : 'LOCUS_READ_DB_URL']
  );
}

function roleEnv(target: MigrationTarget, name: string, url: string, replicaUrl: string) {
  const env: Record<string, string> = { [ADMIN_SETTING[target]]: url };
  for (const setting of PRIMARY_ROLE_SETTINGS[target]) {
    env[setting] = withDatabase(process.env[setting] ?? url, name);
  }
  for (const setting of REPLICA_ROLE_SETTINGS[target]) {
    env[setting] = withDatabase(process.env[setting] ?? replicaUrl, name);
  }
  return env;
}

/**
 * Creates a fresh database for one test file on the server of `target`, as its owner, and applies its
 * migrations, procedures and grants (setting the role passwords the environment's role URLs carry).
 * For the read store the replica receives the new database by replication.
 */
export async function createTestDatabase(target: MigrationTarget): Promise<TestDatabase> {
  const serverUrl = adminUrl(target);
  if (!serverUrl) throw new Error('LOCUS_* addresses are not set: is the global setup running?');
  const name = uniqueName(`t_${target}`);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(serverUrl, name);
  const pool = createPool(url, { applicationName: 'locus-test-migrate', max: 1 });
  try {
    await migrate(pool, target, rolePasswords(target, process.env));
  } finally {
    await pool.end();
  }
  const replicaUrl = withDatabase(process.env.LOCUS_READ_REPLICA_URL ?? serverUrl, name);
  const env = roleEnv(target, name, url, replicaUrl);
  return {
    name,
    url,
    replicaUrl,
    env,
    urlFor: (setting) => env[setting] ?? url,
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
