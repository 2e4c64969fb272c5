import type { Transaction } from 'kysely';
import type { CatalogDb } from './catalog.tables.js';

export interface StoredResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export type KeyClaim =
  { kind: 'claimed' } | { kind: 'seen'; fingerprint: string; response: StoredResponse | undefined };

/**
 * Claims an idempotency key for this transaction. When another transaction holds an uncommitted claim
 * of the same key, this waits for it: after its commit the key is `seen` (with its stored response);
 * after its rollback this transaction gets the claim. So two concurrent retries never both write.
 */
export async function claimIdempotencyKey(
  trx: Transaction<CatalogDb>,
  key: string,
  fingerprint: string,
  now: Date,
): Promise<KeyClaim> {
  const inserted = await trx
    .insertInto('idempotency_keys')
    .values({ key, fingerprint, created_at: now, response_status: null, response_body: null })
    .onConflict((oc) => oc.column('key').doNothing())
    .returning('key')
    .executeTakeFirst();
  if (inserted) return { kind: 'claimed' };
  const row = await trx
    .selectFrom('idempotency_keys')
    .select(['fingerprint', 'response_status', 'response_body', 'response_headers'])
    .where('key', '=', key)
    .executeTakeFirstOrThrow();
  return {
    kind: 'seen',
    fingerprint: row.fingerprint,
    response:
      row.response_status === null
        ? undefined
        : { status: row.response_status, body: row.response_body, headers: row.response_headers },
  };
}

/** Stores the response of the write a claimed key guarded, in that write's transaction. */
export async function storeIdempotentResponse(
  trx: Transaction<CatalogDb>,
  key: string,
  response: StoredResponse,
): Promise<void> {
  await trx
    .updateTable('idempotency_keys')
    .set({
      response_status: response.status,
      response_body: JSON.stringify(response.body),
      response_headers: JSON.stringify(response.headers),
    })
    .where('key', '=', key)
    .execute();
}
