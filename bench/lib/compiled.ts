import { ensureCompiled } from '../../bin/build-state.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';

/**
 * Compiles locus to dist/ when it is stale (as `locus build` does), so the processes a benchmark starts
 * through bin/locus.js run compiled JavaScript, as in production, rather than the sources through tsx
 * (which costs each process ~50 MB and a loader thread), unless LOCUS_FROM_SOURCE=1 asks for the
 * sources (a side-by-side comparison). Returns what the processes will run, for the results.
 */
export function compileLocus(): string {
  if (process.env.LOCUS_FROM_SOURCE === '1')
    return 'the TypeScript sources through tsx (LOCUS_FROM_SOURCE=1)';
  return ensureCompiled(REPO_ROOT) ? 'compiled JavaScript (dist/)' : 'the TypeScript sources through tsx';
}
