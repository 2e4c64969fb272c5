/**
 * Named places where a process can be made to die or freeze on the spot, for fault-injection tests.
 * Started with `LOCUS_CRASH_AT=<name>` (or `<name>:<n>`, the n-th time it is reached), the process
 * SIGKILLs itself there — no cleanup, no flush, no graceful shutdown, as a power cut or the OOM killer
 * would. With `LOCUS_PAUSE_AT=<name>[:<n>]` it SIGSTOPs itself there instead, once: a zombie, as a
 * frozen VM or a stop-the-world pause makes one, holding whatever it held (fetched messages, an open
 * transaction) until someone sends SIGCONT. Unset (as in production) a point is two comparisons.
 */
export interface CrashSpec {
  name: string;
  /** Acts the n-th time the point is reached (1 = the first). */
  nth: number;
}

/**
 * The value of `LOCUS_CRASH_AT` or `LOCUS_PAUSE_AT` (named by `setting`, for the error) as a spec;
 * undefined when unset or empty.
 * @throws Error on a malformed value, so a test never runs without the fault it asked for.
 */
export function parseCrashSpec(value: string | undefined, setting = 'LOCUS_CRASH_AT'): CrashSpec | undefined {
  if (!value) return undefined;
  const match = /^([\w.-]+)(?::(\d+))?$/.exec(value.trim());
  if (!match || (match[2] !== undefined && Number(match[2]) < 1))
    throw new Error(`${setting} must be <name> or <name>:<n> with n ≥ 1, not "${value}"`);
  return { name: match[1]!, nth: match[2] === undefined ? 1 : Number(match[2]) };
}

const crashAt = parseCrashSpec(process.env.LOCUS_CRASH_AT, 'LOCUS_CRASH_AT');
const pauseAt = parseCrashSpec(process.env.LOCUS_PAUSE_AT, 'LOCUS_PAUSE_AT');
let crashReached = 0;
let pauseReached = 0;

/** Marks a place between two steps; kills (LOCUS_CRASH_AT) or freezes (LOCUS_PAUSE_AT) the process here. */
export function crashPoint(name: string): void {
  if (crashAt?.name === name && ++crashReached >= crashAt.nth) process.kill(process.pid, 'SIGKILL');
  if (pauseAt?.name === name && ++pauseReached === pauseAt.nth) process.kill(process.pid, 'SIGSTOP');
}
