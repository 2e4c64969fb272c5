import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  wrap,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { bearerHeader } from '../shared/auth.tokens.js';
import type { Clock } from '../shared/clock.js';
import { LocusError } from '../shared/errors.js';

/** Answers whether the catalog knows a product; the reviews service asks before accepting a review. */
export interface ProductDirectory {
  /**
   * @throws LocusError LOCUS_PRODUCT_NOT_FOUND when the catalog does not know the product;
   *   LOCUS_CIRCUIT_OPEN (503, fast) while the breaker is open; LOCUS_BACKEND_UNAVAILABLE (503) when
   *   the catalog failed or timed out on every attempt.
   */
  assertExists(productId: string): Promise<void>;
}

export interface CatalogDirectoryOptions {
  /** Base URL of the catalog service (LOCUS_CATALOG_URL). */
  baseUrl: string;
  clock: Clock;
  /** Per-attempt deadline. */
  timeoutMs?: number;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** Consecutive failed calls that open the breaker. */
  breakerThreshold?: number;
  /** How long the breaker stays open before one trial call. */
  halfOpenAfterMs?: number;
  /** How long a product seen to exist is trusted without asking again (0 disables the cache). */
  cacheTtlMs?: number;
  /** The reviews service's own bearer token, sent with every check (LOCUS_SERVICE_TOKEN). */
  token?: string;
}

/**
 * Product existence by a synchronous call to the catalog, `GET {baseUrl}/products/{id}`, through
 * cockatiel: retry (exponential backoff) ⟶ circuit breaker ⟶ per-attempt timeout. 200 = exists,
 * 404 = unknown (an answer, not a failure: it neither retries nor trips the breaker); anything else,
 * a refused connection or a timeout is a failure. While the breaker is open, calls fail at once with
 * 503 so a down catalog costs the client milliseconds, not the timeout.
 *
 * Why synchronous rather than a local copy of product ids fed by the products topic: a product created
 * a moment ago is reviewable at once (no projection lag), a deleted product is refused at once, and the
 * reviews service needs no Kafka consumer of its own. The price is availability: with the catalog down,
 * new reviews of products not in the short positive cache get 503 (reads, edits and deletes of existing
 * reviews do not call the catalog and keep working).
 */
export function createCatalogDirectory(options: CatalogDirectoryOptions): ProductDirectory & {
  readonly breaker: CircuitBreakerPolicy;
} {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const cacheTtlMs = options.cacheTtlMs ?? 30_000;
  const known = new Map<string, number>();
  const failure = handleWhen((error) => !(error instanceof BrokenCircuitError));
  const breaker = circuitBreaker(failure, {
    halfOpenAfter: options.halfOpenAfterMs ?? 5_000,
    breaker: new ConsecutiveBreaker(options.breakerThreshold ?? 5),
  });
  const policy = wrap(
    retry(failure, {
      maxAttempts: (options.maxAttempts ?? 3) - 1,
      backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 400 }),
    }),
    breaker,
    timeout(options.timeoutMs ?? 1_000, TimeoutStrategy.Aggressive),
  );

  const headers = { accept: 'application/json', ...bearerHeader(options.token) };
  const ask = async (productId: string, signal: AbortSignal): Promise<boolean> => {
    const response = await fetch(`${baseUrl}/products/${encodeURIComponent(productId)}`, { signal, headers });
    await response.body?.cancel();
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new Error(`catalog answered ${response.status}`);
  };

  return {
    breaker,
    async assertExists(productId) {
      const now = options.clock.now().getTime();
      const seenAt = known.get(productId);
      if (seenAt !== undefined && now - seenAt < cacheTtlMs) return;
      let exists: boolean;
      try {
        // A signal per call: cockatiel would otherwise hang every call's listener on one shared signal.
        exists = await policy.execute(({ signal }) => ask(productId, signal), new AbortController().signal);
      } catch (error) {
        if (error instanceof BrokenCircuitError) {
          throw new LocusError('LOCUS_CIRCUIT_OPEN', 'the catalog is unavailable (circuit open)', {
            cause: error,
            retryAfterSeconds: Math.ceil((options.halfOpenAfterMs ?? 5_000) / 1000),
          });
        }
        const what = error instanceof TaskCancelledError ? 'did not answer in time' : 'is unavailable';
        throw new LocusError('LOCUS_BACKEND_UNAVAILABLE', `the catalog ${what}`, {
          cause: error,
          retryAfterSeconds: 1,
        });
      }
      if (!exists) {
        known.delete(productId);
        throw new LocusError('LOCUS_PRODUCT_NOT_FOUND', `product ${productId} does not exist`, {
          details: [{ field: 'productId', message: 'unknown product' }],
        });
      }
      if (cacheTtlMs > 0) {
        if (known.size >= 10_000) known.clear();
        known.set(productId, now);
      }
    },
  };
}
