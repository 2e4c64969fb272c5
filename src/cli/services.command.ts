import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../migrate/migrator.js';

export const LOCUS_HOME = process.env.LOCUS_HOME ?? path.join(os.homedir(), '.locus');
export const ENV_FILE = path.join(LOCUS_HOME, 'env');

/** Runs scripts/services.sh with the given action (in `env`), streaming its output; exits on failure. */
export function services(
  action: 'up' | 'down' | 'status' | 'reset',
  env: NodeJS.ProcessEnv = process.env,
): void {
  const result = spawnSync('bash', [path.join(REPO_ROOT, 'scripts/services.sh'), action], {
    stdio: 'inherit',
    env,
  });
  if (result.status !== 0) {
    process.exitCode = result.status ?? 1;
    if (action !== 'status') throw new Error(`services ${action} failed (exit ${result.status})`);
  }
}

/** The LOCUS_* addresses written by `services up`, or an empty object when there is no such file. */
export function readEnvFile(file = ENV_FILE): Record<string, string> {
  if (!existsSync(file)) return {};
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && line.includes('='))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

/** The store and broker addresses; a command that has none of them set takes them all from ENV_FILE. */
export const ADDRESS_VARIABLES = [
  'LOCUS_CATALOG_DB_URL',
  'LOCUS_READ_DB_URL',
  'LOCUS_READ_REPLICA_URL',
  'LOCUS_MONGO_URL',
  'LOCUS_KAFKA_BROKERS',
] as const;

/**
 * Fills `env` from the file `services up` wrote when no LOCUS_* address is set, so `locus migrate` or
 * `locus verify` work for a newcomer without loading it first. One address set means the caller chose
 * its stores: nothing is taken from the file then, so a deployment never mixes the two.
 */
export function loadEnvFileWhenUnset(env: NodeJS.ProcessEnv = process.env, file = ENV_FILE): void {
  if (ADDRESS_VARIABLES.some((name) => env[name])) return;
  for (const [name, value] of Object.entries(readEnvFile(file))) env[name] ??= value;
}

export function printEnv(): void {
  for (const [name, value] of Object.entries(readEnvFile())) console.log(`export ${name}=${value}`);
}
