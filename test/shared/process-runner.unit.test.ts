import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** How long the test waits for the child before it SIGKILLs it and reports it as still running. */
const GIVE_UP_MS = 4_000;

/** Runs the slow-start child, sends `signals` once it prints `after`, and collects what it printed. */
function runChild(
  startMs: number,
  after: string,
  signals: NodeJS.Signals[],
  env: Record<string, string> = {},
): Promise<{ lines: string[]; exit: string; afterSignalMs: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/slow-start-child.ts')],
    { env: { ...process.env, START_MS: String(startMs), ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let signalledAt = Number.NaN;
  const giveUp = setTimeout(() => child.kill('SIGKILL'), GIVE_UP_MS);
  const lines: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      lines.push(line);
      if (line !== after) continue;
      signalledAt = performance.now();
      for (const signal of signals) child.kill(signal);
    }
  });
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(giveUp);
      const exit = signal === 'SIGKILL' ? 'still running' : (signal ?? `exit code ${code}`);
      resolve({ lines, exit, afterSignalMs: performance.now() - signalledAt });
    }),
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

  it('given a close that leaves a timer running, then it still exits when its grace period ends, with 1', async () => {
    const { lines, exit, afterSignalMs } = await runChild(0, 'started', ['SIGTERM'], {
      LINGER: '1',
      LOCUS_SHUTDOWN_GRACE_MS: '1000',
    });
    expect(lines).toEqual(['starting', 'started', 'closed', 'exiting']);
    expect(exit).toBe('exit code 1');
    expect(afterSignalMs).toBeGreaterThanOrEqual(1_000);
  });

  it('given a close that leaves a client socket open to a peer that never answers, then it destroys it and exits 0', async () => {
    const silentPeer = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silentPeer.listen(0, '127.0.0.1', resolve));
    try {
      const { lines, exit } = await runChild(0, 'started', ['SIGTERM'], {
        PEER_PORT: String((silentPeer.address() as net.AddressInfo).port),
        LOCUS_SHUTDOWN_GRACE_MS: '2000',
      });
      expect({ lines, exit }).toEqual({
        lines: ['starting', 'started', 'closed', 'exiting'],
        exit: 'exit code 0',
      });
    } finally {
      silentPeer.close();
    }
  });

  it('given a second signal while it is stopping, then it exits at once with 130', async () => {
    const { lines, exit } = await runChild(5_000, 'starting', ['SIGTERM', 'SIGINT']);
    expect(lines).toEqual(['starting']);
    expect(exit).toBe('exit code 130');
  });
});
