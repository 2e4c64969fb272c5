import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { createTestDatabase, type RoleSetting, type TestDatabase } from '../../testkit/isolation.js';

/** Runs `sql` as the role of `url`; resolves to the SQLSTATE it failed with, or 'ok'. */
async function outcome(url: string, sql: string, values: unknown[] = []): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query(sql, values);
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The role and password of `setting`'s URL, on the server and database of `other`. */
function credentialsOn(database: TestDatabase, setting: RoleSetting, other: TestDatabase): string {
  const from = new URL(database.urlFor(setting));
  const to = new URL(other.url);
  to.username = from.username;
  to.password = from.password;
  return to.toString();
}

const PERMISSION_DENIED = '42501';
const READ_ONLY_TRANSACTION = '25006';
const AUTHENTICATION_FAILED = '28P01';

describe('each locus process reaches only its own data, as its own PostgreSQL role', () => {
  let catalog: TestDatabase;
  let read: TestDatabase;

  beforeAll(async () => {
    [catalog, read] = await Promise.all([createTestDatabase('catalog'), createTestDatabase('readmodel')]);
  });
  afterAll(async () => {
    await Promise.allSettled([catalog?.drop(), read?.drop()]);
  });

  it('the query role cannot insert into a view on the read primary, even in a read-write transaction', async () => {
    const query = read.urlFor('LOCUS_QUERY_DB_URL');
    const insert = `INSERT INTO category_view (id, name, description, version, created_at, updated_at)
                    VALUES (gen_random_uuid(), 'x', '', 1, now(), now())`;
    expect(await outcome(query, insert)).toBe(READ_ONLY_TRANSACTION);
    expect(await outcome(query, `BEGIN READ WRITE; ${insert}`)).toBe(PERMISSION_DENIED);
    expect(await outcome(query, 'SELECT count(*) FROM product_summary')).toBe('ok');
    expect(await outcome(query, 'SELECT count(*) FROM dead_letters')).toBe(PERMISSION_DENIED);
  });

  it("the query role's sessions are read-only by default, on the primary and on the replica", async () => {
    for (const url of [read.urlFor('LOCUS_QUERY_DB_URL'), read.urlFor('LOCUS_READ_REPLICA_URL')]) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ read_only: string }>(
          "SELECT current_setting('default_transaction_read_only') AS read_only",
        );
        expect(rows[0]!.read_only).toBe('on');
      } finally {
        await client.end();
      }
    }
  });

  it('the catalog role cannot connect to the read store', async () => {
    expect(await outcome(credentialsOn(catalog, 'LOCUS_CATALOG_DB_URL', read), 'SELECT 1')).toBe(
      AUTHENTICATION_FAILED,
    );
  });

  it('the projector role cannot read the catalog store', async () => {
    expect(await outcome(credentialsOn(read, 'LOCUS_READ_DB_URL', catalog), 'SELECT * FROM products')).toBe(
      AUTHENTICATION_FAILED,
    );
  });

  it('the relay role cannot update products, and the catalog role cannot mark its outbox published', async () => {
    expect(
      await outcome(catalog.urlFor('LOCUS_CATALOG_RELAY_DB_URL'), "UPDATE products SET name = 'x'"),
    ).toBe(PERMISSION_DENIED);
    expect(
      await outcome(catalog.urlFor('LOCUS_CATALOG_DB_URL'), 'UPDATE outbox SET published_at = now()'),
    ).toBe(PERMISSION_DENIED);
  });

  it('the verify role reads every store and writes none', async () => {
    const verifyCatalog = catalog.urlFor('LOCUS_VERIFY_CATALOG_DB_URL');
    const verifyRead = read.urlFor('LOCUS_VERIFY_READ_DB_URL');
    expect(await outcome(verifyCatalog, 'SELECT count(*) FROM products')).toBe('ok');
    expect(await outcome(verifyCatalog, 'DELETE FROM products')).toBe(PERMISSION_DENIED);
    expect(await outcome(verifyRead, 'SELECT count(*) FROM review_view')).toBe('ok');
    expect(await outcome(verifyRead, 'DELETE FROM review_view')).toBe(PERMISSION_DENIED);
  });

  it('no locus role is a superuser, on any of the three servers', async () => {
    for (const url of [catalog.url, read.url, read.urlFor('LOCUS_VERIFY_REPLICA_URL')]) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ rolname: string }>(
          "SELECT rolname FROM pg_roles WHERE rolname LIKE 'locus%' AND (rolsuper OR rolbypassrls)",
        );
        expect(rows.map((row) => row.rolname)).toEqual([]);
        const { rows: me } = await client.query<{ super: boolean }>(
          'SELECT rolsuper AS super FROM pg_roles WHERE rolname = current_user',
        );
        expect(me[0]!.super).toBe(false);
      } finally {
        await client.end();
      }
    }
  });
});

describe('PostgreSQL passwords stay out of the repository', () => {
  const settings = Object.entries(process.env).filter(
    (entry): entry is [string, string] =>
      /^LOCUS_.*_URL$/.test(entry[0]) && !!entry[1]?.startsWith('postgres'),
  );

  it('no role password of the environment appears in a tracked file', () => {
    const passwords = new Set(settings.map(([, url]) => decodeURIComponent(new URL(url).password)));
    expect(passwords.size).toBeGreaterThan(0);
    for (const password of passwords) {
      expect(password.length, 'a generated password, not a word').toBeGreaterThanOrEqual(16);
      // git grep exits 1 when nothing matches
      const grep = spawnSync('git', ['grep', '-l', '--fixed-strings', password], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      expect(grep.stdout.trim()).toBe('');
      expect(grep.status).toBe(1);
    }
  });

  const secrets = path.join(process.env.LOCUS_HOME ?? path.join(os.homedir(), '.locus'), 'secrets');
  it.skipIf(!existsSync(secrets))(
    'the native stack keeps them in mode-0600 files in a 0700 directory',
    () => {
      expect(statSync(secrets).mode & 0o777).toBe(0o700);
      const files = readdirSync(secrets).filter((name) => name.startsWith('pg-'));
      expect(files.length).toBeGreaterThanOrEqual(7);
      for (const name of files) expect(statSync(path.join(secrets, name)).mode & 0o777, name).toBe(0o600);
    },
  );
});
