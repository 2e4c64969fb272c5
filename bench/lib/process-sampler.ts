import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcessUsage {
  /** User + system CPU seconds. */
  cpuSeconds: number;
  /** Peak resident set size seen while sampling, in MB. */
  peakRssMb: number;
}

function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function rssMbOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : 0;
}

/**
 * Measures another process (the query service, the projector) from outside, through /proc: the CPU
 * time it spends and the peak RSS it reaches while `work` runs.
 */
export async function measureProcess<T>(
  pid: number,
  work: () => Promise<T>,
  intervalMs = 20,
): Promise<{ result: T; usage: ProcessUsage }> {
  const cpuBefore = cpuSecondsOf(pid);
  let peak = rssMbOf(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMbOf(pid));
    } catch {
      // the process may be gone; the caller sees it in its own requests
    }
  }, intervalMs);
  try {
    const result = await work();
    peak = Math.max(peak, rssMbOf(pid));
    return { result, usage: { cpuSeconds: cpuSecondsOf(pid) - cpuBefore, peakRssMb: peak } };
  } finally {
    clearInterval(timer);
  }
}
