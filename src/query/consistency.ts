import { setTimeout as sleep } from 'node:timers/promises';
import { parseConsistencyToken, type ConsistencyToken } from '../contracts/consistency-token.js';
import { LocusError } from '../shared/errors.js';
import { isUuid } from '../shared/uuid.js';
import type { Deadline } from './deadline.js';
import type { Queryable, ReadBackend, ReadStore } from './read-store.js';

export const ALLOW_PRIMARY_HEADER = 'locus-allow-primary';

/**
 * The token from `Locus-Consistency-Token` or `?consistencyToken=` (header wins), if any.
 * @throws LocusError LOCUS_VALIDATION naming `consistencyToken` when it is malformed, its id included:
 *   the id is bound to the uuid column of applied_versions, where a non-UUID would fail the read.
 */
export function consistencyTokenOf(
  header: string | string[] | undefined,
  query: string | undefined,
): ConsistencyToken | undefined {
  const text = (Array.isArray(header) ? header[0] : header) ?? query;
  if (text === undefined || text === '') return undefined;
  const token = parseConsistencyToken(text);
  if (!isUuid(token.aggregateId)) {
    throw new LocusError('LOCUS_VALIDATION', `consistencyToken: "${token.aggregateId}" is not a UUID`, {
      details: [
        { field: 'consistencyToken', message: 'expected <product|category|review>:<uuid>:<version>' },
      ],
    });
  }
  return token;
}

async function appliedVersion(db: Queryable, token: ConsistencyToken): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    'SELECT version FROM applied_versions WHERE aggregate_type = $1 AND aggregate_id = $2',
    [token.aggregateType, token.aggregateId],
  );
  return rows[0]?.version ?? 0;
}

/**
 * Read-your-writes: waits until the REPLICA shows `applied_versions.version >= token.version` for the
 * token's aggregate — seeing it there proves the projector applied the write and the replica replayed
 * that commit — polling for at most `waitMs` (and never past the request's deadline).
 * When the bound passes: with `allowPrimary`, checks the read primary and answers from there if it has
 * the version; otherwise fails.
 * @returns the backend the request must read from.
 * @throws LocusError LOCUS_NOT_YET_CONSISTENT (503, Retry-After: 1) when neither copy has the version.
 */
export async function awaitConsistency(
  store: ReadStore,
  deadline: Deadline,
  token: ConsistencyToken,
  options: { waitMs: number; allowPrimary: boolean },
): Promise<ReadBackend> {
  // Leave part of the deadline for the read itself (and for the primary check when allowed), so a
  // wait that runs out answers NOT_YET_CONSISTENT rather than a deadline error.
  const share = options.allowPrimary ? 0.5 : 0.8;
  const waitUntil = performance.now() + Math.min(options.waitMs, deadline.remaining() * share);
  let delay = 5;
  for (;;) {
    const version = await store.onReplica(deadline, 'consistency check', (db) => appliedVersion(db, token));
    if (version >= token.version) return 'replica';
    const left = waitUntil - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(delay, left));
    delay = Math.min(delay * 2, 50);
  }
  if (options.allowPrimary && !deadline.expired) {
    const version = await store.onPrimary(deadline, 'consistency check', (db) => appliedVersion(db, token));
    if (version >= token.version) return 'primary';
  }
  throw new LocusError(
    'LOCUS_NOT_YET_CONSISTENT',
    `the read store does not show ${token.aggregateType} ${token.aggregateId} version ${token.version} yet`,
    {
      retryAfterSeconds: 1,
      details: [{ field: 'consistencyToken', message: 'not yet visible; retry later' }],
    },
  );
}
