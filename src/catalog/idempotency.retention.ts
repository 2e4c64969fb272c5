import type { Kysely } from 'kysely';
import type { RetentionJob } from '../shared/retention.js';
import type { CatalogDb } from './catalog.tables.js';

/**
 * The catalog's idempotency keys older than `retentionMs` (by `created_at`, indexed): a client
 * retrying later than that gets a new write, not the first answer.
 */
export function idempotencyKeyRetention(db: Kysely<CatalogDb>, retentionMs: number): RetentionJob {
  return {
    name: 'catalog_idempotency_keys',
    retentionMs,
    async purgeChunk(olderThan, limit) {
      const result = await db
        .deleteFrom('idempotency_keys')
        .where('key', 'in', (eb) =>
          eb.selectFrom('idempotency_keys').select('key').where('created_at', '<', olderThan).limit(limit),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
