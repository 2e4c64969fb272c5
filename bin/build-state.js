// Whether dist/ may run: compiled JavaScript is used only when it is at least as new as every source
// it was compiled from. Plain JavaScript so bin/locus.js can decide before any TypeScript loads.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The folders tsconfig.build.json compiles, and the configs that change what it emits. */
const SOURCE_DIRS = ['src', 'test', 'testkit', 'bench', 'examples'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json'];

export function stampPath(root) {
  return path.join(root, 'dist', '.built');
}

/** Newest modification time of the TypeScript sources and configs under `root` (0 when there are none). */
export function newestSourceMtime(root) {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(full).mtimeMs);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(path.join(root, dir))) visit(path.join(root, dir));
  for (const file of CONFIGS)
    if (existsSync(path.join(root, file))) newest = Math.max(newest, statSync(path.join(root, file)).mtimeMs);
  return newest;
}

/** True when dist/ was built after the last change to any source; LOCUS_FROM_SOURCE=1 says no. */
export function compiledIsFresh(root, env = process.env) {
  if (env.LOCUS_FROM_SOURCE === '1' || !existsSync(stampPath(root))) return false;
  return statSync(stampPath(root)).mtimeMs >= newestSourceMtime(root);
}

/**
 * tsc over tsconfig.build.json; the stamp is written only when it succeeds, dated with the newest
 * source as tsc found it, so a source saved while tsc ran still counts as newer than the build.
 */
export function compile(root) {
  const started = Date.now();
  const compiledFrom = newestSourceMtime(root);
  process.stderr.write('[locus] compiling TypeScript to dist/ … ');
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) {
    process.stderr.write('failed; running from the TypeScript sources\n');
    return false;
  }
  writeFileSync(stampPath(root), `${new Date().toISOString()}\n`);
  // Rounded up to the millisecond: utimes keeps less precision than mtimeMs reports.
  const stampSeconds = Math.ceil(compiledFrom) / 1000;
  if (compiledFrom > 0) utimesSync(stampPath(root), stampSeconds, stampSeconds);
  process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return true;
}

/**
 * Compiles when dist/ is stale, unless LOCUS_FROM_SOURCE=1 asks for the sources.
 * @returns whether dist/ may run (fresh, or compiled just now).
 */
export function ensureCompiled(root, env = process.env) {
  if (compiledIsFresh(root, env)) return true;
  return env.LOCUS_FROM_SOURCE !== '1' && compile(root);
}
