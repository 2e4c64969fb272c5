import { MongoClient } from 'mongodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueMongoUrl } from '../../testkit/isolation.js';

/** The reviews store URL with its credentials (and the mechanism that goes with them) taken out. */
function anonymous(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  parsed.searchParams.delete('authMechanism');
  return parsed.toString();
}

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

/** Runs one read and one write through a client of `url`; resolves only if the store served both. */
async function readAndWrite(url: string, database: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000 });
  try {
    await client.connect();
    const reviews = client.db(database).collection('reviews');
    await reviews.findOne({});
    await reviews.insertOne({ probe: true });
  } finally {
    await client.close();
  }
}

// FerretDB v1 reports a refused login as an InternalError carrying its PostgreSQL's message.
const REFUSED = /password authentication failed|no pg_hba\.conf entry|requires authentication|auth/i;

/** FerretDB answers buildInfo without a login and names itself there. */
async function isFerretDb(url: string): Promise<boolean> {
  const client = new MongoClient(anonymous(url), { serverSelectionTimeoutMS: 5_000 });
  try {
    const info = await client.db('admin').command({ buildInfo: 1 });
    return typeof info.ferretdbVersion === 'string';
  } finally {
    await client.close();
  }
}

describe('the reviews store (native FerretDB) takes only its role, with its password', async () => {
  const { url, database } = uniqueMongoUrl();
  const ferret = await isFerretDb(url);
  // FerretDB's own PostgreSQL, which the role's password reaches through FerretDB.
  const pgPort = Number(process.env.LOCUS_FERRETDB_PG_PORT ?? 54323);
  const pgAs = (user: string, password: string | undefined, db = 'ferretdb') =>
    new pg.Client({ host: '127.0.0.1', port: pgPort, user, password, database: db });

  beforeAll(async () => {
    if (ferret) await readAndWrite(url, database);
  });
  afterAll(async () => {
    if (!ferret) return;
    const client = await new MongoClient(url).connect();
    await client.db(database).dropDatabase();
    await client.close();
  });

  it.runIf(ferret)('serves the configured URL, which carries a user and PLAIN', async () => {
    const parsed = new URL(url);
    expect(parsed.username).not.toBe('');
    expect(parsed.searchParams.get('authMechanism')).toBe('PLAIN');
    await expect(readAndWrite(url, database)).resolves.toBeUndefined();
  });

  it.runIf(ferret)('refuses a client without credentials', async () => {
    await expect(readAndWrite(anonymous(url), database)).rejects.toThrow(REFUSED);
  });

  it.runIf(ferret)('refuses the role with a wrong password', async () => {
    await expect(readAndWrite(withPassword(url, 'not-the-password'), database)).rejects.toThrow(REFUSED);
  });

  it.runIf(ferret)('refuses the PostgreSQL superuser over TCP, with or without a password', async () => {
    for (const password of [undefined, 'postgres']) {
      const client = pgAs('postgres', password);
      await expect(client.connect()).rejects.toThrow(/no pg_hba\.conf entry|password authentication failed/);
      await client.end().catch(() => {});
    }
  });

  it.runIf(ferret)('gives the role no superuser, no other database, no CREATE DATABASE', async () => {
    const { username, password } = new URL(url);
    const other = pgAs(username, decodeURIComponent(password), 'postgres');
    await expect(other.connect()).rejects.toThrow(/no pg_hba\.conf entry/);
    await other.end().catch(() => {});
    const own = pgAs(username, decodeURIComponent(password));
    await own.connect();
    try {
      const { rows } = await own.query<{ rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }>(
        'SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user',
      );
      expect(rows).toEqual([{ rolsuper: false, rolcreatedb: false, rolcreaterole: false }]);
      await expect(own.query('CREATE DATABASE locus_not_allowed')).rejects.toThrow(/permission denied/);
    } finally {
      await own.end();
    }
  });
});
