import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../migrate/migrator.js';
import { shutdownGraceMs } from '../shared/process-runner.js';

export interface ProcessSpec {
  /** Name of the process, also its log file name. */
  name: string;
  /** Arguments to the `locus` CLI, e.g. `['catalog']`. */
  args: string[];
  /** `http://127.0.0.1:8081/health`: the process counts as started once this answers 200. */
  healthUrl?: string;
  env?: NodeJS.ProcessEnv;
  /** V8/Node flags for this process only, e.g. a heap cap (see PROCESS_NODE_FLAGS). */
  nodeArgs?: string[];
  /**
   * A command the process starts under, which execs it in place (same pid), e.g. `ip netns exec <ns>`
   * to run it behind a benchmark's network link (bench/lib/network).
   */
  launcher?: string[];
}

/**
 * Heap settings measured in the benchmarks (bench/results). Projector, 10k events per transaction,
 * 180 s at 10k events/s, compiled (dist/): semi-space 4 MB keeps the lag flat at 186–193 MB peak RSS;
 * 8 MB peaks at ~205 MB. With 2 MB its lag grew (scavenges promote every event in flight, and
 * old-space GC took ~40% of its CPU). Run from the sources through tsx, every figure is ~25 MB higher.
 * The query service stays under 200 MB at saturation with 4 MB. Without caps, V8's defaults let both
 * grow to 300–500 MB on this kind of machine.
 */
export const PROCESS_NODE_FLAGS: Record<string, string[]> = {
  projector: ['--max-old-space-size=128', '--max-semi-space-size=4'],
  query: ['--max-semi-space-size=4'],
};

/** How a process ended: its exit code, or the signal that ended it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What `stop` waits beyond a process's own grace period before it SIGKILLs it. */
const KILL_AFTER_GRACE_MS = 5_000;

interface Supervised {
  spec: ProcessSpec;
  child: ChildProcess;
  exited: Promise<ProcessExit>;
}

/**
 * Starts locus processes as separate OS processes, the way they are deployed, and stops every one it
 * started (by pid, never by name). Used by the example, the end-to-end tests and fault injection.
 */
export class ProcessSupervisor {
  private readonly processes = new Map<string, Supervised>();

  constructor(
    private readonly logDir: string,
    private readonly baseEnv: NodeJS.ProcessEnv = process.env,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  logFile(name: string): string {
    return path.join(this.logDir, `${name}.log`);
  }

  /**
   * Spawns the process and waits until its health URL answers 200.
   * @throws Error naming the process and its log when it exits or is not healthy within `timeoutMs`.
   */
  async start(spec: ProcessSpec, timeoutMs = 60_000): Promise<void> {
    if (this.processes.has(spec.name)) throw new Error(`${spec.name} is already running`);
    const log = createWriteStream(this.logFile(spec.name), { flags: 'a' });
    const [command, ...prefix] = [...(spec.launcher ?? []), process.execPath];
    const child = spawn(
      command,
      [...prefix, ...(spec.nodeArgs ?? []), path.join(REPO_ROOT, 'bin/locus.js'), ...spec.args],
      {
        cwd: REPO_ROOT,
        env: { ...this.baseEnv, ...spec.env },
        // The IPC channel is how the child knows this process is gone (bin/locus.js): it stops then.
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    child.channel?.unref();
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<ProcessExit>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    this.processes.set(spec.name, { spec, child, exited });
    if (!spec.healthUrl) return;
    const deadline = Date.now() + timeoutMs;
    let exit: ProcessExit | undefined;
    void exited.then((ended) => (exit = ended));
    for (;;) {
      if (exit !== undefined) {
        this.processes.delete(spec.name);
        throw new Error(
          `${spec.name} exited with ${exit.signal ?? `code ${exit.code}`} while starting; see ${this.logFile(spec.name)}`,
        );
      }
      if (await answers(spec.healthUrl)) return;
      if (Date.now() > deadline) {
        await this.stop(spec.name);
        throw new Error(
          `${spec.name} was not healthy within ${timeoutMs} ms; see ${this.logFile(spec.name)}`,
        );
      }
      await sleep(200);
    }
  }

  pid(name: string): number | undefined {
    return this.processes.get(name)?.child.pid;
  }

  /** Sends a signal without waiting: SIGKILL simulates a crash between any two steps. */
  kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    this.processes.get(name)?.child.kill(signal);
  }

  /**
   * SIGTERM, then SIGKILL once the process has outlived its own grace period (LOCUS_SHUTDOWN_GRACE_MS,
   * after which it exits by itself) by a margin, or after `killAfterMs`; resolves with how it ended,
   * or undefined when no such process runs.
   */
  async stop(name: string, killAfterMs?: number): Promise<ProcessExit | undefined> {
    const supervised = this.processes.get(name);
    if (!supervised) return undefined;
    const { spec, child, exited } = supervised;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const graceMs = shutdownGraceMs({ ...this.baseEnv, ...spec.env });
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs ?? graceMs + KILL_AFTER_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    this.processes.delete(name);
    return exited;
  }

  /**
   * Stops every process this supervisor started, all at once: the whole stop takes one grace period,
   * not one per process, so none is left running while the others take their turn.
   */
  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((name) => this.stop(name)));
  }

  running(): string[] {
    return [...this.processes.keys()];
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
