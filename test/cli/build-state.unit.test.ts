import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compiledIsFresh, newestSourceMtime, stampPath } from '../../bin/build-state.js';

/** A project folder with one source and, optionally, a build stamp, with chosen modification times. */
function touch(file: string, seconds: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '');
  utimesSync(file, seconds, seconds);
}

describe('build-state: when bin/locus.js may run dist/', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'locus-build-'));
    touch(path.join(root, 'src', 'cli', 'main.ts'), 1_000);
    touch(path.join(root, 'tsconfig.json'), 900);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('given no build, then dist/ is not fresh', () => {
    expect(compiledIsFresh(root, {})).toBe(false);
  });

  it('given a build newer than every source, then dist/ is fresh', () => {
    touch(stampPath(root), 2_000);
    expect(compiledIsFresh(root, {})).toBe(true);
  });

  it('given a source changed after the build, in a nested folder, then dist/ is stale', () => {
    touch(stampPath(root), 2_000);
    touch(path.join(root, 'test', 'projector', 'views.int.test.ts'), 3_000);
    expect(newestSourceMtime(root)).toBe(3_000 * 1000);
    expect(compiledIsFresh(root, {})).toBe(false);
  });

  it('given a changed tsconfig after the build, then dist/ is stale', () => {
    touch(stampPath(root), 2_000);
    touch(path.join(root, 'tsconfig.json'), 2_500);
    expect(compiledIsFresh(root, {})).toBe(false);
  });

  it('given files that are not TypeScript sources changed, then dist/ stays fresh', () => {
    touch(stampPath(root), 2_000);
    touch(path.join(root, 'src', 'notes.md'), 3_000);
    touch(path.join(root, 'migrations', 'readmodel', '0009_new.sql'), 3_000);
    expect(compiledIsFresh(root, {})).toBe(true);
  });

  it('given LOCUS_FROM_SOURCE=1, then the sources run even with a fresh build', () => {
    touch(stampPath(root), 2_000);
    expect(compiledIsFresh(root, { LOCUS_FROM_SOURCE: '1' })).toBe(false);
  });
});
