import { LocusError } from '../shared/errors.js';

/**
 * Whether `error` says a backend cannot serve now (down, lagging, breaker open) rather than that the
 * request is wrong: only those may fall back to another backend.
 */
export function isAvailabilityError(error: unknown): boolean {
  return (
    error instanceof LocusError &&
    [
      'LOCUS_REPLICA_UNAVAILABLE',
      'LOCUS_REPLICA_LAGGING',
      'LOCUS_CIRCUIT_OPEN',
      'LOCUS_BACKEND_UNAVAILABLE',
    ].includes(error.code)
  );
}
