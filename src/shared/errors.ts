/**
 * The one error type of locus and its closed list of codes. Every failure that crosses a process
 * boundary (HTTP body, dead-letter reason, CLI exit) carries one of these codes; the HTTP status of
 * each code is decided here and nowhere else.
 */
export const ERROR_CODES = {
  LOCUS_VALIDATION: 400,
  LOCUS_BAD_CURSOR: 400,
  LOCUS_UNKNOWN_FIELD: 400,
  /** A key in user input starts with `$` or contains `.` (would be a MongoDB operator or path). */
  LOCUS_UNSAFE_KEY: 400,
  /** No bearer token, or one this process does not accept; the answer carries `WWW-Authenticate`. */
  LOCUS_UNAUTHORIZED: 401,
  /** The bearer token is valid but lacks the scope the route needs (named in the details). */
  LOCUS_FORBIDDEN: 403,
  LOCUS_NOT_FOUND: 404,
  /** The path exists but not with this HTTP method; the answer names the methods in `Allow`. */
  LOCUS_METHOD_NOT_ALLOWED: 405,
  LOCUS_PRODUCT_NOT_FOUND: 404,
  LOCUS_CATEGORY_NOT_FOUND: 404,
  LOCUS_REVIEW_NOT_FOUND: 404,
  LOCUS_CONFLICT: 409,
  LOCUS_VERSION_CONFLICT: 409,
  LOCUS_DUPLICATE_SKU: 409,
  LOCUS_IDEMPOTENCY_MISMATCH: 422,
  LOCUS_PAYLOAD_TOO_LARGE: 413,
  LOCUS_UNSUPPORTED_MEDIA_TYPE: 415,
  /** The client sent more requests of this kind than its per-minute limit; `Retry-After` says when to retry. */
  LOCUS_RATE_LIMITED: 429,
  /** `strategy=composition` is switched off on this query service (LOCUS_QUERY_COMPOSITION). */
  LOCUS_COMPOSITION_DISABLED: 403,
  LOCUS_REPLICA_UNAVAILABLE: 503,
  LOCUS_REPLICA_LAGGING: 503,
  LOCUS_BACKEND_UNAVAILABLE: 503,
  LOCUS_CIRCUIT_OPEN: 503,
  LOCUS_NOT_YET_CONSISTENT: 503,
  LOCUS_DEADLINE_EXCEEDED: 504,
  LOCUS_CONFIG_MISSING: 500,
  LOCUS_CONFIG_INVALID: 500,
  LOCUS_EVENT_INVALID: 500,
  LOCUS_EVENT_UNKNOWN_TYPE: 500,
  LOCUS_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetail {
  /** JSON pointer or dotted path of the offending field, e.g. `/price/amount` or `query.limit`. */
  field?: string;
  message: string;
}

/** An error with a stable code, a message for humans, optional per-field details and the cause. */
export class LocusError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  /** Seconds a client should wait before retrying (429s, 503s), sent as `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetail[]; cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'LocusError';
    this.code = code;
    this.details = options.details ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }
}

export function isLocusError(error: unknown): error is LocusError {
  return error instanceof LocusError;
}
