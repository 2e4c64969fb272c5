import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** Runs the slow-start child, sends `signals` once it prints `after`, and collects what it printed. */
function runChild(
  startMs: number,
  after: string,
  signals: NodeJS.Signals[],
): Promise<{ lines: string[]; exit: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/slow-start-child.ts')],
    { env: { ...process.env, START_MS: String(startMs) }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      lines.push(line);
      if (line === after) for (const signal of signals) child.kill(signal);
    }
  });
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ lines, exit: signal ?? `exit code ${code}` })),
  );
}

describe('runUntilSignal', () => {
  it('given a SIGTERM while the process is still starting, then it finishes starting, closes once and exits 0', async () => {
    const { lines, exit } = await runChild(1_000, 'starting', ['SIGTERM']);
    expect(lines).toEqual(['starting', 'started', 'closed', 'exiting']);
    expect(exit).toBe('exit code 0');
  });

  it('given a SIGTERM once started, then it closes once and exits 0', async () => {
    const { lines, exit } = await runChild(0, 'started', ['SIGTERM']);
    expect(lines).toEqual(['starting', 'started', 'closed', 'exiting']);
    expect(exit).toBe('exit code 0');
  });

  it('given a second signal while it is stopping, then it exits at once with 130', async () => {
    const { lines, exit } = await runChild(5_000, 'starting', ['SIGTERM', 'SIGINT']);
    expect(lines).toEqual(['starting']);
    expect(exit).toBe('exit code 130');
  });
});
