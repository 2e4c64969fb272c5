/**
 * Named places where a process can be made to die on the spot, for fault-injection tests: started with
 * `LOCUS_CRASH_AT=<name>` (or `<name>:<n>`, the n-th time it is reached), the process SIGKILLs itself
 * there — no cleanup, no flush, no graceful shutdown, as a power cut or the OOM killer would. Unset (as
 * in production) a crash point is one string comparison.
 */
export interface CrashSpec {
  name: string;
  /** Dies the n-th time the point is reached (1 = the first). */
  nth: number;
}

/** `LOCUS_CRASH_AT`'s value as a spec; undefined when unset or empty. */
export function parseCrashSpec(value: string | undefined): CrashSpec | undefined {
  if (!value) return undefined;
  const match = /^([\w.-]+)(?::(\d+))?$/.exec(value.trim());
  if (!match || (match[2] !== undefined && Number(match[2]) < 1))
    throw new Error(`LOCUS_CRASH_AT must be <name> or <name>:<n> with n ≥ 1, not "${value}"`);
  return { name: match[1]!, nth: match[2] === undefined ? 1 : Number(match[2]) };
}

const armed = parseCrashSpec(process.env.LOCUS_CRASH_AT);
let reached = 0;

/** Marks a place between two steps; kills the process here when LOCUS_CRASH_AT names it. */
export function crashPoint(name: string): void {
  if (armed === undefined || armed.name !== name) return;
  reached += 1;
  if (reached >= armed.nth) process.kill(process.pid, 'SIGKILL');
}
