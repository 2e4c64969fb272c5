/**
 * SQLSTATEs of class 08 that are not about the connection: the server parsed a message it could not
 * accept. For the projector's statements that is always the data (a U+0000 in a text the simple
 * protocol carries ends its C string), so sending the same batch again fails the same way.
 */
const DATA_PROTOCOL_ERRORS = new Set(['08P01']);

/**
 * SQLSTATE classes no event can cause: the connection (08), transaction rollbacks the server chose
 * (40: serialization failure, deadlock), resources (53: disk full, out of memory, too many connections),
 * operator intervention and timeouts (57), system and internal errors (58, XX), refused credentials or
 * a missing database (28, 3D).
 */
const OUTAGE_CLASSES = new Set(['08', '28', '3D', '40', '53', '57', '58', 'XX']);

/** Single codes outside those classes that say "not now" rather than "never". */
const OUTAGE_CODES = new Set([
  // the server ended a transaction left idle too long (a frozen projector)
  '25P03',
  // lock_timeout: another session held the lock
  '55P03',
]);

/** Node's system error codes (ECONNRESET, EPIPE), not its ERR_… codes for misuse of an API. */
const SYSTEM_ERROR = /^E[A-Z]+$/;

/**
 * Whether a failure is the store's rather than the events': an outage is rethrown and the batch is
 * redelivered, everything else is deterministic (same input, same failure: data exceptions 22,
 * integrity 23, syntax or undefined objects 42, a protocol violation caused by the data...) and is
 * isolated and parked. Node's system errors (E…: ECONNREFUSED, ECONNRESET) and pg's own connection
 * errors, which carry no SQLSTATE, are outages.
 */
export function isInfrastructureError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (DATA_PROTOCOL_ERRORS.has(code)) return false;
    if (OUTAGE_CODES.has(code) || SYSTEM_ERROR.test(code)) return true;
    return /^[0-9A-Z]{5}$/.test(code) && OUTAGE_CLASSES.has(code.slice(0, 2));
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
}
