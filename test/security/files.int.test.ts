import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const FERRETDB = 'scripts/services/ferretdb.sh';
// The shared build cache (the FerretDB binary, Go modules): linked in, so that nothing is rebuilt.
const CACHE = join(process.env.LOCUS_HOME ?? join(homedir(), '.locus'), 'cache');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Every path under `dir` (symbolic links not followed) with the permission bits of its mode. */
async function modesUnder(dir: string): Promise<Map<string, number>> {
  const modes = new Map<string, number>();
  const walk = async (path: string) => {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return;
    modes.set(path, stat.mode & 0o777);
    if (stat.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
  return modes;
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');

/**
 * The native scripts on a private home: a FerretDB (and its PostgreSQL) started from an installation
 * left by an older version, with world-readable files in it.
 */
describe.runIf(existsSync(join(CACHE, 'ferretdb-v1.24.2', 'ferretdb')))(
  'files of the native stack are their owner’s only',
  () => {
    let home: string;
    let locusHome: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      // Given a home directory closed to others, and an older installation's world-readable files.
      home = await mkdtemp(join(tmpdir(), 'locus-files-'));
      await chmod(home, 0o700);
      locusHome = join(home, '.locus');
      await mkdir(join(locusHome, 'logs'), { recursive: true, mode: 0o755 });
      await chmod(locusHome, 0o755);
      await writeFile(join(locusHome, 'logs', 'old.log'), 'from an older version\n', { mode: 0o644 });
      await symlink(CACHE, join(locusHome, 'cache'));
      env = {
        PATH: process.env.PATH,
        HOME: home,
        LOCUS_HOME: locusHome,
        LOCUS_MONGO_PORT: String(await freePort()),
        LOCUS_FERRETDB_PG_PORT: String(await freePort()),
      };
      // When the store is started and the env file written.
      await run('bash', [FERRETDB, 'start'], { env, timeout: 120_000 });
      await run('bash', ['scripts/services.sh', 'env'], { env, timeout: 60_000 });
    }, 180_000);

    afterAll(async () => {
      if (env) await run('bash', [FERRETDB, 'reset'], { env, timeout: 60_000 }).catch(() => {});
      if (home) await rm(home, { recursive: true, force: true });
    }, 90_000);

    it('leaves nothing under LOCUS_HOME readable, writable or searchable by group or others', async () => {
      const open = [...(await modesUnder(locusHome))]
        .filter(([, mode]) => (mode & 0o077) !== 0)
        .map(([path, mode]) => `${octal(mode)} ${path}`);
      expect(open).toEqual([]);
    });

    it('keeps the env file and each secret at 0600, in a 0700 folder', async () => {
      expect(octal((await lstat(join(locusHome, 'env'))).mode & 0o777)).toBe('0600');
      const secrets = join(locusHome, 'secrets');
      expect(octal((await lstat(secrets)).mode & 0o777)).toBe('0700');
      const files = await readdir(secrets);
      expect(files).toContain('ferretdb-locus_reviews');
      for (const name of files) expect(octal((await lstat(join(secrets, name))).mode & 0o777)).toBe('0600');
    });

    it('opens no home directory to the postgres user', async () => {
      expect(octal((await lstat(home)).mode & 0o777)).toBe('0700');
      if (userInfo().uid === 0) {
        // The server's data is where postgres owns it, outside the home.
        const state = await readdir(join(locusHome, 'state'));
        expect(state).not.toContain('pg-ferretdb');
      }
    });
  },
);
