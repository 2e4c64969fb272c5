import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { readEnvFile } from '../src/cli/services.command.js';
import { REPO_ROOT } from '../src/migrate/migrator.js';

/**
 * `locus bench <name> [args]`: runs every `bench/<name>/*.bench.ts` (or `bench/<name>.bench.ts`) as its
 * own process, so one benchmark's memory and JIT state never colour another's figures.
 */
export async function main(name: string, args: string[]): Promise<void> {
  const folder = path.join(REPO_ROOT, 'bench', name);
  const files = existsSync(folder)
    ? readdirSync(folder)
        .filter((file) => file.endsWith('.bench.ts'))
        .sort()
        .map((file) => path.join(folder, file))
    : [];
  if (files.length === 0) {
    const available = readdirSync(path.join(REPO_ROOT, 'bench'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !['lib', 'results'].includes(entry.name))
      .map((entry) => entry.name);
    throw new Error(`no benchmark "${name}"; available: ${available.join(', ')}`);
  }
  for (const file of files) {
    console.log(`\n=== ${path.relative(REPO_ROOT, file)}`);
    const result = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], {
      stdio: 'inherit',
      cwd: REPO_ROOT,
      // Addresses from `services up` unless the caller set its own.
      env: { ...readEnvFile(), ...process.env },
    });
    if (result.status !== 0) {
      process.exitCode = result.status ?? 1;
      return;
    }
  }
}
