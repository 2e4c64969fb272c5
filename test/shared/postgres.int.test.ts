import { afterAll, describe, expect, it } from 'vitest';
import { PROJECTOR_SESSION_SETTINGS } from '../../src/projector/project-batch.js';
import { createPool, sessionOptions } from '../../src/shared/postgres.js';

describe('createPool session settings', () => {
  const url = process.env.LOCUS_READ_DB_URL!;
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

  it('escapes spaces and backslashes in values', () => {
    expect(sessionOptions({ a: 'x y', b: 'c\\d' })).toBe('-c a=x\\ y -c b=c\\\\d');
  });
});
