import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { LocusError } from '../shared/errors.js';
import { ensureRoles, grantDatabaseAccess, type RolePasswords } from './roles.js';

/** The folder of package.json: two levels up from this module in src/, three when compiled to dist/src/. */
export const REPO_ROOT = findRoot(import.meta.dirname);
const MIGRATIONS_DIR = path.join(REPO_ROOT, 'migrations');
const PROCEDURES_DIR = path.join(REPO_ROOT, 'procedures');
const GRANTS_DIR = path.join(REPO_ROOT, 'grants');

/** The stores that have SQL migrations: each is a folder of `migrations/`. */
export type MigrationTarget = 'catalog' | 'readmodel';

export interface MigrationResult {
  applied: string[];
  skipped: number;
  procedures: string[];
}

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

async function sqlFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => name.endsWith('.sql')).sort();
}

const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

/**
 * Applies the numbered `migrations/<target>/*.sql` files not yet recorded in `schema_migrations`, each
 * in its own transaction, in name order; then, for the read store, re-applies every
 * `procedures/*.sql` (idempotent `CREATE OR REPLACE`). Then it creates the store's process roles
 * (setting the `passwords` given), lets only them connect, and applies `grants/<target>.sql`, so
 * every database it migrates gets the same grants. `pool` must log in as the databases' owner. Concurrent runs on one database
 * serialise on an advisory lock.
 * @throws LocusError LOCUS_CONFIG_INVALID when a landed migration was edited (its checksum changed).
 */
export async function migrate(
  pool: pg.Pool,
  target: MigrationTarget,
  passwords: RolePasswords = new Map(),
): Promise<MigrationResult> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`locus-migrate-${target}`]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const recorded = new Map(
      (
        await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations')
      ).rows.map((row) => [row.name, row.checksum]),
    );
    const dir = path.join(MIGRATIONS_DIR, target);
    const result: MigrationResult = { applied: [], skipped: 0, procedures: [] };
    for (const name of await sqlFiles(dir)) {
      const sql = await readFile(path.join(dir, name), 'utf8');
      const known = recorded.get(name);
      if (known !== undefined) {
        if (known !== checksum(sql)) {
          throw new LocusError(
            'LOCUS_CONFIG_INVALID',
            `migration ${target}/${name} was edited after it was applied`,
          );
        }
        result.skipped += 1;
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [
          name,
          checksum(sql),
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new LocusError(
          'LOCUS_INTERNAL',
          `migration ${target}/${name} failed: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      result.applied.push(name);
    }
    if (target === 'readmodel') {
      for (const name of await sqlFiles(PROCEDURES_DIR)) {
        await client.query(await readFile(path.join(PROCEDURES_DIR, name), 'utf8'));
        result.procedures.push(name);
      }
    }
    await ensureRoles(client, target, passwords);
    await grantDatabaseAccess(client, target);
    await client.query(await readFile(path.join(GRANTS_DIR, `${target}.sql`), 'utf8'));
    return result;
  } finally {
    await client
      .query('SELECT pg_advisory_unlock(hashtext($1))', [`locus-migrate-${target}`])
      .catch(() => undefined);
    client.release();
  }
}
