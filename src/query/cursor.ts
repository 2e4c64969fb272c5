import { LocusError } from '../shared/errors.js';
import { isUuid } from '../shared/uuid.js';

/**
 * An opaque keyset cursor: the sort it belongs to, the sort key of the last row served, and that row's
 * id (the tie-breaker). Clients get it as base64url text and hand it back verbatim.
 */
export interface Cursor {
  /** Which ordering the cursor continues, e.g. `rating`, `price`, `newest`, `reviews`. */
  sort: string;
  /** The last row's sort key: a decimal string, an integer (price, microseconds), or null. */
  key: string | number | null;
  id: string;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.sort, cursor.key, cursor.id]), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor and checks it continues `expectedSort`.
 * @throws LocusError LOCUS_BAD_CURSOR (field `cursor`) when the text is not one of our cursors, or
 *   belongs to another ordering.
 */
export function decodeCursor(text: string, expectedSort: string): Cursor {
  const bad = (why: string) =>
    new LocusError('LOCUS_BAD_CURSOR', `cursor: ${why}`, { details: [{ field: 'cursor', message: why }] });
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(text)) throw bad('not a cursor issued by this service');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor issued by this service');
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw bad('not a cursor issued by this service');
  const [sort, key, id] = parsed as unknown[];
  if (typeof sort !== 'string' || typeof id !== 'string' || !isUuid(id)) {
    throw bad('not a cursor issued by this service');
  }
  const keyOk =
    key === null ||
    (typeof key === 'number' && Number.isSafeInteger(key)) ||
    (typeof key === 'string' && /^-?\d{1,12}(\.\d{1,12})?$/.test(key));
  if (!keyOk) throw bad('not a cursor issued by this service');
  if (sort !== expectedSort) throw bad(`cursor was issued for sort "${sort}", not "${expectedSort}"`);
  return { sort, key, id };
}
