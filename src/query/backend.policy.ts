import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { LocusError, isLocusError, type ErrorCode } from '../shared/errors.js';
import { isConnectionFailure, isStoreOutage, storeErrorCode } from '../shared/store-outage.js';
import { deadlineExceeded, type Deadline } from './deadline.js';

export type BackendName = 'replica' | 'primary' | 'catalog-api' | 'reviews-api';

export interface ResilienceOptions {
  /** Consecutive failures that open a backend's breaker. */
  breakerFailures: number;
  /** How long an open breaker waits before letting one probe through (half-open). */
  halfOpenAfterMs: number;
  /** Retries after the first attempt, for failures worth retrying, while the deadline allows. */
  retries: number;
  retryInitialDelayMs: number;
}

export interface FailureClassifier {
  /** The backend misbehaved (down, slow, shedding): counts towards its breaker. */
  isFailure(error: unknown): boolean;
  /** A fresh attempt may well succeed (recovery conflict, dropped connection). */
  isRetryable(error: unknown): boolean;
  /** The code to answer with when the backend cannot be reached. */
  unavailableCode: ErrorCode;
}

/**
 * One backend's resilience: a circuit breaker shared by every request (opens after
 * `breakerFailures` consecutive failures, half-opens after `halfOpenAfterMs` to probe), and per call a
 * deadline-bounded timeout plus retries with exponential backoff and decorrelated jitter that stop
 * when the request's deadline would not leave room for another attempt.
 */
export class BackendPolicy {
  readonly breaker: CircuitBreakerPolicy;

  constructor(
    readonly name: BackendName,
    private readonly options: ResilienceOptions,
    private readonly classify: FailureClassifier,
  ) {
    this.breaker = circuitBreaker(
      handleWhen((error) => error instanceof TaskCancelledError || classify.isFailure(error)),
      { halfOpenAfter: options.halfOpenAfterMs, breaker: new ConsecutiveBreaker(options.breakerFailures) },
    );
  }

  /**
   * Runs `fn` against the backend within the deadline. `fn` receives an AbortSignal that fires at the
   * deadline (pass it to fetch; database calls are also bounded by statement_timeout).
   * @throws LocusError LOCUS_CIRCUIT_OPEN (503, Retry-After) when the breaker is open,
   *   LOCUS_DEADLINE_EXCEEDED (504) when the deadline ran out, the classifier's unavailable code (503)
   *   when the backend cannot be reached; other errors pass through.
   */
  async execute<T>(deadline: Deadline, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    deadline.check(what);
    // The probe of a half-open breaker decides for everyone; one under a client's own short deadline
    // would close it by timing out (cockatiel closes on an error it does not count): none is let in.
    if (deadline.shortenedByClient && this.breaker.state !== CircuitState.Closed) {
      throw this.translate(new BrokenCircuitError(), deadline, what);
    }
    const retryPolicy = retry(
      handleWhen(
        (error) =>
          this.classify.isRetryable(error) && deadline.remaining() > this.options.retryInitialDelayMs * 4,
      ),
      {
        maxAttempts: this.options.retries,
        backoff: new ExponentialBackoff({ initialDelay: this.options.retryInitialDelayMs, maxDelay: 250 }),
      },
    );
    try {
      return await retryPolicy.execute(() =>
        this.breaker.execute(async () => {
          try {
            return await timeout(Math.max(1, deadline.remaining()), {
              strategy: TimeoutStrategy.Aggressive,
              // Aborting a call that already finished builds a DOMException per request: measurable.
              abortOnReturn: false,
            }).execute((_context, signal) => fn(signal));
          } catch (error) {
            throw isClientDeadlineTimeout(error, deadline) ? new ClientDeadlineTimeout(error) : error;
          }
        }),
      );
    } catch (error) {
      throw this.translate(error, deadline, what);
    }
  }

  private translate(error: unknown, deadline: Deadline, what: string): unknown {
    if (isLocusError(error)) return error;
    if (error instanceof ClientDeadlineTimeout) return deadlineExceeded(deadline, what, error.cause);
    if (error instanceof BrokenCircuitError) {
      return new LocusError('LOCUS_CIRCUIT_OPEN', `${this.name}: circuit open after repeated failures`, {
        cause: error,
        retryAfterSeconds: Math.max(1, Math.ceil(this.options.halfOpenAfterMs / 1000)),
      });
    }
    if (error instanceof TaskCancelledError || deadline.expired)
      return deadlineExceeded(deadline, what, error);
    if ((error as { code?: string }).code === '57014') return deadlineExceeded(deadline, what, error);
    if (this.classify.isFailure(error)) {
      return new LocusError(this.classify.unavailableCode, `${this.name} is unavailable`, {
        cause: error,
        retryAfterSeconds: 1,
      });
    }
    return error;
  }
}

/**
 * A timeout the client chose: its deadline, shorter than the server's default, ran out. The breaker
 * does not handle it, so it counts neither as a failure nor as a success: one caller with tiny
 * deadlines cannot open a backend's breaker for everyone. A statement stopped by the server's own
 * statement timeout while the deadline still had time left is the backend's slowness and counts.
 */
class ClientDeadlineTimeout extends Error {
  constructor(cause: unknown) {
    super('the client deadline ran out', { cause });
    this.name = 'ClientDeadlineTimeout';
  }
}

function isClientDeadlineTimeout(error: unknown, deadline: Deadline): boolean {
  const timedOut = error instanceof TaskCancelledError || storeErrorCode(error) === '57014';
  return timedOut && deadline.shortenedByClient && deadline.expired;
}

/**
 * Outages after which the same read, run again at once, may succeed: a lost connection (but not a
 * refused one), a rollback the server chose (40001 includes recovery conflicts), a shutdown or a
 * start-up, connection shedding. A full disk or a refused password stays the same for a while.
 */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P03', '53300']);

/** How database errors count: every store outage (see isStoreOutage) is the backend's fault. */
export function databaseClassifier(unavailableCode: ErrorCode): FailureClassifier {
  return {
    unavailableCode,
    isFailure: isStoreOutage,
    isRetryable(error) {
      const code = storeErrorCode(error);
      if (code === 'ECONNREFUSED') return false; // down is down: answer at once
      return (code !== undefined && RETRYABLE_SQLSTATES.has(code)) || isConnectionFailure(error);
    },
  };
}

/** An upstream HTTP API's failure: network errors and 5xx (a 4xx is our bug, not its outage). */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

export const upstreamClassifier: FailureClassifier = {
  unavailableCode: 'LOCUS_BACKEND_UNAVAILABLE',
  isFailure(error) {
    return error instanceof UpstreamError && (error.status === undefined || error.status >= 500);
  },
  isRetryable(error) {
    return (
      error instanceof UpstreamError &&
      (error.status === undefined || error.status === 502 || error.status === 503)
    );
  },
};
