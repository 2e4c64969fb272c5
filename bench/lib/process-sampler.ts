import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcessUsage {
  /** User + system CPU seconds. */
  cpuSeconds: number;
  /** Peak resident set size seen while sampling, in MB. */
  peakRssMb: number;
}

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces), from field 3 on. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU seconds a process has spent so far. @throws when the process is gone. */
function cpuSecondsOf(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function processIds(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/**
 * CPU seconds of a process and of its children so far: its own time, its exited children's (which the
 * kernel adds to it once reaped) and its live children's. For a PostgreSQL postmaster that is the
 * whole server, backends that came and went included; NaN when the process is gone.
 */
export function treeCpuSecondsOf(pid: number): number {
  try {
    const fields = statFields(pid);
    let ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    for (const child of processIds()) {
      try {
        const childFields = statFields(child);
        if (Number(childFields[1]) === pid) ticks += Number(childFields[11]) + Number(childFields[12]);
      } catch {
        // it exited meanwhile: its time is in the parent's children's time once reaped
      }
    }
    return ticks / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/**
 * The services of `locus services up` on this machine, each as the pid of the process whose tree is
 * that service (a postmaster, FerretDB, Kafka's JVM), found by command line. Empty where the services
 * run elsewhere (containers, LOCUS_* addresses): the caller then reports nothing for them.
 */
export function localServicePids(): Record<string, number> {
  const patterns: [string, RegExp][] = [
    ['pg catalog', /postgres -D \S*\/pg\/catalog( |$)/],
    ['pg read', /postgres -D \S*\/pg\/read( |$)/],
    ['pg replica', /postgres -D \S*\/pg\/replica( |$)/],
    ['pg ferretdb', /postgres -D \S*\/pg-ferretdb( |$)/],
    ['ferretdb', /ferretdb -listen-addr/],
    ['kafka', /java .*kafka\.Kafka /],
  ];
  const found: Record<string, number> = {};
  for (const pid of processIds()) {
    let command: string;
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    for (const [name, pattern] of patterns) if (pattern.test(command)) found[name] = pid;
  }
  return found;
}

/** Resident set size of a process now, in MB. */
export function rssMbOf(pid: number): number {
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

/** The highest resident set size a process has reached so far (VmHWM), in MB. */
export function peakRssMbOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}
