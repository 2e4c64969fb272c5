import type { Kysely, Transaction } from 'kysely';
import { LocusError } from '../shared/errors.js';
import type { CatalogDb } from './catalog.tables.js';
import {
  claimIdempotencyKey,
  storeIdempotentResponse,
  type StoredResponse,
} from './idempotency.repository.js';
import { translatePgError } from './pg-errors.js';

/**
 * Runs a write in one transaction. With an idempotency key, the key, the write and its response
 * commit together: a retry with the same key and fingerprint gets the first response again without
 * writing; a retry with another fingerprint fails. Without a key the write simply runs.
 * @throws LocusError LOCUS_IDEMPOTENCY_MISMATCH (422) when the key was used for another request;
 *   constraint violations are translated (see pg-errors.ts). On any throw nothing is committed.
 */
export async function runWrite(
  db: Kysely<CatalogDb>,
  idempotency: { key: string; fingerprint: string; now: Date } | undefined,
  write: (trx: Transaction<CatalogDb>) => Promise<StoredResponse>,
): Promise<StoredResponse> {
  try {
    return await db.transaction().execute(async (trx) => {
      if (!idempotency) return write(trx);
      const claim = await claimIdempotencyKey(trx, idempotency.key, idempotency.fingerprint, idempotency.now);
      if (claim.kind === 'seen') {
        if (claim.fingerprint !== idempotency.fingerprint || !claim.response) {
          throw new LocusError(
            'LOCUS_IDEMPOTENCY_MISMATCH',
            'this Idempotency-Key was used for a different request',
            { details: [{ field: 'headers/idempotency-key', message: 'reused with a different request' }] },
          );
        }
        return claim.response;
      }
      const response = await write(trx);
      await storeIdempotentResponse(trx, idempotency.key, response);
      return response;
    });
  } catch (error) {
    throw translatePgError(error);
  }
}
