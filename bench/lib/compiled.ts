import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../src/migrate/migrator.js';

/**
 * Compiles locus to dist/ when it is stale (`locus build`), so the processes a benchmark starts through
 * bin/locus.js run compiled JavaScript, as in production, rather than the sources through tsx (which
 * costs each process ~50 MB and a loader thread), unless LOCUS_FROM_SOURCE=1 asks for the sources (a
 * side-by-side comparison). Returns what the processes will run, for the results.
 */
export function compileLocus(): string {
  if (process.env.LOCUS_FROM_SOURCE === '1')
    return 'the TypeScript sources through tsx (LOCUS_FROM_SOURCE=1)';
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'build'], {
    stdio: 'inherit',
  });
  return result.status === 0 ? 'compiled JavaScript (dist/)' : 'the TypeScript sources through tsx';
}
