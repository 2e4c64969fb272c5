import type { FastifyReply } from 'fastify';
import { CONSISTENCY_TOKEN_HEADER, formatConsistencyToken } from '../contracts/consistency-token.js';
import { VERSION_TEXT_PATTERN } from '../contracts/bounds.js';
import type { AggregateType } from '../contracts/envelope.js';
import { LocusError } from '../shared/errors.js';

// A version as the document writes it: from 1, without leading zeros, quoted or not, weak or strong.
const IF_MATCH = new RegExp(`^(?:W/)?(?:"(${VERSION_TEXT_PATTERN})"|(${VERSION_TEXT_PATTERN}))$`);

/**
 * What a conditional write expects the current version to be: a number from `If-Match: "<version>"`,
 * or `undefined` when the header is absent or `*` (the write then applies to whatever version is current).
 * Weak tags (`W/"3"`) and unquoted numbers are accepted: a version number is the whole validator.
 * @throws LocusError LOCUS_VALIDATION naming `headers/if-match` when the header is malformed.
 */
export function expectedVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const match = IF_MATCH.exec(ifMatch.trim());
  const version = match ? Number(match[1] ?? match[2]) : NaN;
  if (!Number.isSafeInteger(version)) {
    throw new LocusError('LOCUS_VALIDATION', 'headers/if-match: expected "<version>"', {
      details: [{ field: 'headers/if-match', message: 'expected a quoted version number, e.g. "3"' }],
    });
  }
  return version;
}

/**
 * Fails a write whose `If-Match` does not name the current version; called while holding the row
 * lock, so the check and the write see the same version.
 * @throws LocusError LOCUS_VERSION_CONFLICT (409) carrying the current version.
 */
export function assertVersion(expected: number | undefined, current: number, what: string): void {
  if (expected !== undefined && expected !== current) {
    throw new LocusError(
      'LOCUS_VERSION_CONFLICT',
      `${what} is at version ${current}, not ${expected}: read it again and retry`,
      { details: [{ field: 'headers/if-match', message: `current version is ${current}` }] },
    );
  }
}

export function etagOf(version: number): string {
  return `"${version}"`;
}

/** Headers of every accepted write: the new version as ETag, and the consistency token. */
export function writeHeaders(
  aggregateType: AggregateType,
  aggregateId: string,
  version: number,
): Record<string, string> {
  return {
    etag: etagOf(version),
    [CONSISTENCY_TOKEN_HEADER]: formatConsistencyToken({ aggregateType, aggregateId, version }),
  };
}

export function sendHeaders(reply: FastifyReply, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) void reply.header(name, value);
}
