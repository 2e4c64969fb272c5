import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/session-settings.js';
import { arrayLiteral, createPool, sendTogether, sessionOptions } from '../../src/shared/postgres.js';
import { adminUrl } from '../../testkit/isolation.js';

// The owner: these tests make temporary tables, which the process roles may not.
const READ_URL = adminUrl('readmodel')!;

describe('createPool session settings', () => {
  const url = READ_URL;
  const pool = createPool(url, {
    applicationName: 'test-session-settings',
    max: 2,
    sessionSettings: { ...PROJECTOR_SESSION_SETTINGS, search_path: 'public, pg_catalog' },
  });
  afterAll(() => pool.end());

  it('given session settings, when any pooled connection asks, then the server reports them', async () => {
    // two connections at once: both were opened with the settings, not just the first
    const clients = await Promise.all([pool.connect(), pool.connect()]);
    try {
      for (const client of clients) {
        const { rows } = await client.query<{ jit: string; work_mem: string; search_path: string }>(
          `SELECT current_setting('jit') AS jit, current_setting('work_mem') AS work_mem,
             current_setting('search_path') AS search_path`,
        );
        expect(rows[0]).toEqual({ jit: 'off', work_mem: '64MB', search_path: 'public, pg_catalog' });
      }
    } finally {
      for (const client of clients) client.release();
    }
  });

  it('given a checked-out client whose session the server ends, then the process survives, its next query fails and the pool hands out a working client', async () => {
    const idleTimeout = createPool(url, {
      applicationName: 'test-ended-session',
      max: 1,
      sessionSettings: { idle_in_transaction_session_timeout: '200ms' },
    });
    try {
      const client = await idleTimeout.connect();
      await client.query('BEGIN');
      // the server ends the idle transaction's session while the client is checked out (no query running):
      // an 'error' event nobody listened to would crash the process here
      await sleep(600);
      await expect(client.query('COMMIT')).rejects.toThrow();
      client.release(true);
      const { rows } = await idleTimeout.query<{ one: number }>('SELECT 1 AS one');
      expect(rows[0]?.one).toBe(1);
    } finally {
      await idleTimeout.end();
    }
  });

  it('escapes spaces and backslashes in values', () => {
    expect(sessionOptions({ a: 'x y', b: 'c\\d' })).toBe('-c a=x\\ y -c b=c\\\\d');
  });
});

describe('arrayLiteral', () => {
  const pool = createPool(READ_URL, { applicationName: 'test-array-literal', max: 1 });
  afterAll(() => pool.end());

  const tricky = [
    'plain',
    '',
    ' leading and trailing spaces ',
    'comma, and {braces}',
    'double "quotes"',
    'back\\slash \\" both',
    'NULL',
    'null',
    'tab\tnew\nline',
    'ünïcødé ✓',
    '{"json": ["array", 1]}',
    null,
  ];

  it('given awkward strings and nulls, when PostgreSQL parses the literal as text[], then it gets each value back', async () => {
    const { rows } = await pool.query<{ values: (string | null)[] }>('SELECT $1::text[] AS values', [
      arrayLiteral(tricky),
    ]);
    expect(rows[0]!.values).toEqual(tricky);
  });

  it('given the column types the projector sends, then each parses to the same values node-postgres would send', async () => {
    const columns = {
      uuid: ['8a1f3c2e-5b7d-4e9a-a1c3-0f2e4d6b8a9c', null],
      bigint: [1, 9_007_199_254_740_991, -3],
      int: [0, 5],
      boolean: [true, false, null],
      timestamptz: ['2026-11-25T12:00:00.123Z', '2026-01-01T00:00:00Z'],
      jsonb: [JSON.stringify({ a: 'x "y"', b: [1, 2] }), '{}'],
    };
    for (const [type, values] of Object.entries(columns)) {
      const sent = await pool.query<{ literal: string; native: string }>(
        `SELECT $1::${type}[]::text AS literal, $2::${type}[]::text AS native`,
        [arrayLiteral(values), values],
      );
      expect(sent.rows[0]!.literal, type).toBe(sent.rows[0]!.native);
    }
  });

  it('given no values, then it is the empty array', async () => {
    const { rows } = await pool.query<{ n: number }>('SELECT cardinality($1::uuid[]) AS n', [
      arrayLiteral([]),
    ]);
    expect(rows[0]!.n).toBe(0);
  });
});

describe('sendTogether', () => {
  const pool = createPool(READ_URL, {
    applicationName: 'test-send-together',
    max: 1,
    pipeline: true,
  });
  afterAll(() => pool.end());

  const awkward = [
    "it's",
    'back\\slash',
    "both \\' and '",
    '$1 and $2',
    '',
    'ünïcødé',
    'semi; colon --',
    "E'x'",
    '😀 e\u0301 \u202Eright-to-left',
  ];

  it('given awkward strings, numbers and null, when sent bound, then PostgreSQL gets each value back', async () => {
    const client = await pool.connect();
    try {
      const results = await sendTogether(
        client,
        awkward.map((value) => ({
          text: 'SELECT $1::text AS v, $2::int AS n, $3::text AS z',
          values: [value, 42, null],
        })),
      );
      expect(results.map((r) => r.rows[0] as unknown)).toEqual(awkward.map((v) => ({ v, n: 42, z: null })));
    } finally {
      client.release();
    }
  });

  it('given an array literal of awkward strings as a bound parameter, then it parses back to the same strings', async () => {
    const { rows } = await pool.query<{ values: (string | null)[] }>('SELECT $1::text[] AS values', [
      arrayLiteral([...awkward, null]),
    ]);
    expect(rows[0]!.values).toEqual([...awkward, null]);
  });

  it('given a U+0000 in a value, then the statement fails as a data exception (22021), not a protocol violation, and the client stays usable', async () => {
    const client = await pool.connect();
    try {
      await expect(
        sendTogether(client, [{ text: 'SELECT $1::text', values: ['a\u0000b'] }]),
      ).rejects.toMatchObject({
        code: '22021',
      });
      expect((await sendTogether(client, ['SELECT 1 AS one']))[0]!.rows).toEqual([{ one: 1 }]);
    } finally {
      client.release();
    }
  });

  it("given several statements, then it returns each one's rows in order", async () => {
    const client = await pool.connect();
    try {
      const results = await sendTogether(client, [
        'BEGIN',
        { text: 'SELECT $1::int + 1 AS n', values: [1] },
        { text: 'SELECT $1::text AS s', values: ["o'clock"] },
        'COMMIT',
      ]);
      expect(results.map((r) => r.command)).toEqual(['BEGIN', 'SELECT', 'SELECT', 'COMMIT']);
      expect(results[1]!.rows).toEqual([{ n: 2 }]);
      expect(results[2]!.rows).toEqual([{ s: "o'clock" }]);
    } finally {
      client.release();
    }
  });

  it('given a failing statement in a transaction, then it rejects with that failure and nothing of the transaction stays', async () => {
    const client = await pool.connect();
    const table = `send_together_${process.pid}`;
    try {
      await client.query(`CREATE TEMP TABLE ${table} (n int)`);
      await expect(
        sendTogether(client, [
          'BEGIN',
          `INSERT INTO ${table} VALUES (1)`,
          'SELECT 1 / 0',
          `INSERT INTO ${table} VALUES (2)`,
          'COMMIT',
        ]),
      ).rejects.toThrow(/division by zero/);
      await client.query('ROLLBACK');
      const { rows } = await client.query<{ n: number }>(`SELECT n FROM ${table}`);
      expect(rows).toEqual([]);
    } finally {
      client.release();
    }
  });

  it('given a statement after the COMMIT, then it throws before sending anything', async () => {
    const client = await pool.connect();
    try {
      await expect(sendTogether(client, ['BEGIN', 'COMMIT', 'SELECT 1'])).rejects.toThrow(
        /COMMIT must be the last/,
      );
      expect(client.getTransactionStatus()).toBe('I');
    } finally {
      client.release();
    }
  });
});
