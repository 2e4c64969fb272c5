/**
 * One answer, for every process, to "is this failure the store's rather than the request's or the
 * event's?". An outage says "not now": the HTTP edge answers 503 with Retry-After, the query
 * service's breaker counts it, the projector redelivers the batch. Anything else is deterministic
 * (same input, same failure: data exceptions 22, integrity 23, syntax or undefined objects 42, a
 * protocol violation caused by the data) and is the caller's to report or park.
 */

/**
 * SQLSTATEs of class 08 that are not about the connection: the server parsed a message it could not
 * accept. That is the data (a U+0000 in a text the simple protocol carries ends its C string), so
 * sending the same statement again fails the same way.
 */
const DATA_PROTOCOL_ERRORS = new Set(['08P01']);

/**
 * SQLSTATE classes no input can cause: the connection (08), transaction rollbacks the server chose
 * (40: serialization failure, deadlock), resources (53: disk full, out of memory, too many
 * connections), operator intervention and timeouts (57), system and internal errors (58, XX),
 * refused credentials or a missing database (28, 3D).
 */
const OUTAGE_CLASSES = new Set(['08', '28', '3D', '40', '53', '57', '58', 'XX']);

/** Single codes outside those classes that say "not now" rather than "never". */
const OUTAGE_CODES = new Set([
  // the server ended a transaction left idle too long (a frozen client)
  '25P03',
  // lock_timeout: another session held the lock
  '55P03',
]);

/** Node's system error codes (ECONNREFUSED, ECONNRESET, EPIPE), not its ERR_… codes for API misuse. */
const SYSTEM_ERROR = /^E[A-Z]+$/;

/** What pg says when a connection ends or cannot be had; these errors carry no SQLSTATE. */
const CONNECTION_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i;

/** The string `code` of an error (a SQLSTATE or a Node errno), if it has one. */
export function storeErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether the connection to the store failed or could not be had: a Node system error, a SQLSTATE of
 * class 08 other than the data's protocol violation, or pg's own connection errors.
 */
export function isConnectionFailure(error: unknown): boolean {
  const code = storeErrorCode(error);
  if (code !== undefined) {
    if (DATA_PROTOCOL_ERRORS.has(code)) return false;
    if (SYSTEM_ERROR.test(code) || code.startsWith('08')) return true;
  }
  const message = error instanceof Error ? error.message : '';
  return CONNECTION_MESSAGE.test(message);
}

/**
 * Whether a failure is the store's: the connection (see isConnectionFailure) or a SQLSTATE of a class
 * or code above. Never true for programming errors (TypeError, Node's ERR_… codes) or for null.
 */
export function isStoreOutage(error: unknown): boolean {
  if (isConnectionFailure(error)) return true;
  const code = storeErrorCode(error);
  if (code === undefined || DATA_PROTOCOL_ERRORS.has(code)) return false;
  if (OUTAGE_CODES.has(code)) return true;
  return /^[0-9A-Z]{5}$/.test(code) && OUTAGE_CLASSES.has(code.slice(0, 2));
}
