import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { setupTestTopics } from '../support/kafka.js';

export interface RelayProcess {
  /** `http://127.0.0.1:<port>`: /health, /metrics and the /admin/dead-letters routes. */
  url: string;
  child: ChildProcess;
  health(): Promise<{
    status: number;
    body: { status: string; checks: Record<string, { ok: boolean; detail: string }> };
  }>;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the real `locus relay` process with `env` over the current environment; waits for /health.
 * Its topics (`env.LOCUS_TOPIC_PREFIX`) are set up first, as `locus migrate` does, since the relay runs
 * as its own Kafka user, which may not create them.
 */
export async function startRelayProcess(env: Record<string, string>): Promise<RelayProcess> {
  if (env.LOCUS_TOPIC_PREFIX) await setupTestTopics(env.LOCUS_TOPIC_PREFIX);
  const port = 18_000 + Math.floor(Math.random() * 2_000);
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'relay'], {
    env: { ...process.env, LOCUS_RELAY_PORT: String(port), LOCUS_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const health = async () => {
    const response = await fetch(`${url}/health`);
    return { status: response.status, body: (await response.json()) as never };
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`relay exited early (${child.exitCode})`);
    const answered = await fetch(`${url}/health`).catch(() => undefined);
    if (answered) break;
    if (i > 600) throw new Error('relay did not answer within 60 s');
    await sleep(100);
  }
  return {
    url,
    child,
    health,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls `condition` every 100 ms until it holds or `timeoutMs` passed; returns whether it held. */
export async function eventually(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(100);
  }
  return false;
}
