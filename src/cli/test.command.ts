import { spawnSync } from 'node:child_process';
import { ADDRESS_VARIABLES, ENV_FILE, readEnvFile, services } from './services.command.js';

export function dockerAnswers(): boolean {
  const result = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    timeout: 5_000,
    stdio: 'ignore',
  });
  return result.status === 0;
}

/**
 * `locus test`: the suite passes whether or not the services are up. With LOCUS_* addresses set, it
 * uses them; otherwise with a Docker engine, vitest's global setup starts containers; otherwise it
 * brings the native services up (idempotent) and hands their addresses to vitest.
 */
export function runTests(args: string[]): void {
  const env = { ...process.env };
  const given = ADDRESS_VARIABLES.some((name) => env[name]);
  if (!given && !dockerAnswers()) {
    // The broker opens its test-only fault listener (the broker-outage tests) only when asked.
    services('up', { ...process.env, LOCUS_KAFKA_FAULT_LISTENER: 'on' });
    Object.assign(env, readEnvFile());
    console.log(`using the native services (${ENV_FILE})`);
  }
  const result = spawnSync('npx', ['vitest', 'run', ...args], { stdio: 'inherit', env });
  process.exitCode = result.status ?? 1;
}
