import { LocusError } from '../shared/errors.js';

/**
 * The time budget of one request: every database call, upstream call, retry and wait of the request
 * draws on it. It holds no timer itself (a per-request timer would live on, at thousands of requests
 * per second, until it fired); each backend call arms its own timeout for the time remaining
 * (BackendPolicy), which aborts that call's fetch or abandons its query when the budget runs out.
 */
export class Deadline {
  readonly totalMs: number;
  /**
   * The client asked for less time than the server would have given it: a timeout within this
   * deadline is the client's choice, not the backend's failure (it does not count towards a breaker).
   */
  readonly shortenedByClient: boolean;
  private readonly endsAt: number;

  constructor(ms: number, options: { shortenedByClient?: boolean } = {}) {
    this.totalMs = ms;
    this.shortenedByClient = options.shortenedByClient ?? false;
    this.endsAt = performance.now() + ms;
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    return Math.max(0, Math.floor(this.endsAt - performance.now()));
  }

  get expired(): boolean {
    return this.remaining() <= 0;
  }

  /** @throws LocusError LOCUS_DEADLINE_EXCEEDED when the budget is spent. */
  check(what: string): void {
    if (this.expired) throw deadlineExceeded(this, what);
  }
}

export function deadlineExceeded(deadline: Deadline, what: string, cause?: unknown): LocusError {
  return new LocusError(
    'LOCUS_DEADLINE_EXCEEDED',
    `${what} did not finish within the ${deadline.totalMs} ms deadline`,
    {
      cause,
    },
  );
}

/**
 * The request's deadline: header `Locus-Deadline-Ms` when present, else `defaultMs`; capped at `maxMs`.
 * A header below `defaultMs` marks the deadline as shortened by the client. A longer deadline does not
 * lengthen any statement past the server's statement timeout (ReadStore caps it).
 * @throws LocusError LOCUS_VALIDATION (field `Locus-Deadline-Ms`) when the header is not a positive integer.
 */
export function deadlineFromHeader(
  value: string | string[] | undefined,
  defaultMs: number,
  maxMs: number,
): Deadline {
  if (value === undefined) return new Deadline(Math.min(defaultMs, maxMs));
  const text = Array.isArray(value) ? value[0] : value;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1) {
    throw new LocusError(
      'LOCUS_VALIDATION',
      `Locus-Deadline-Ms: expected a positive integer, got "${text}"`,
      {
        details: [
          { field: 'headers/locus-deadline-ms', message: 'must be a positive integer (milliseconds)' },
        ],
      },
    );
  }
  return new Deadline(Math.min(ms, maxMs), { shortenedByClient: ms < Math.min(defaultMs, maxMs) });
}
