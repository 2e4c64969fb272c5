#!/usr/bin/env node
// The one entry point of every locus process and tool. It runs the compiled JavaScript in dist/ when
// that is at least as new as every TypeScript source, and the sources through tsx's loader otherwise,
// so a change never runs stale code. Compiled is what production runs: tsx's loader keeps a worker
// thread with its own V8 heap and the transpiled sources in every process (138 MB idle RSS for the
// projector against 88 MB compiled, measured). `locus build` compiles; `test`, `example` and `bench`
// compile first when dist/ is stale, so the processes they start run compiled code.
import path from 'node:path';
import { compiledIsFresh, ensureCompiled } from './build-state.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const COMPILE_FIRST = new Set(['build', 'test', 'example', 'bench']);

// Spawned by a ProcessSupervisor (over an IPC channel), the process stops as on SIGTERM when that
// supervisor goes away, even by SIGKILL or a crash: nothing is left running that nobody watches.
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

// npm (`npm run locus -- relay`, `npm run example`) dies of a SIGTERM without passing it on to the
// script it runs, which would then run on, orphaned, with nobody to stop it. Run through npm, the
// process stops as on SIGTERM once the parent it started under is gone.
if (process.env.npm_lifecycle_event !== undefined) {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, 'SIGTERM');
  }, 250);
  watch.unref();
}

const command = process.argv[2];
const fresh = COMPILE_FIRST.has(command) ? ensureCompiled(ROOT) : compiledIsFresh(ROOT);
if (command === 'build') process.exit(fresh ? 0 : 1);

if (fresh) {
  await import('../dist/src/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
