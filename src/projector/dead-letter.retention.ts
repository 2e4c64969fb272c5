import type pg from 'pg';
import type { RetentionJob } from '../shared/retention.js';

/**
 * The projector's dead letters resolved (retried or skipped) more than `retentionMs` ago, of its own
 * consumer. Open letters (parked, waiting) are never purged: they hold their key's later events.
 */
export function deadLetterRetention(pool: pg.Pool, consumer: string, retentionMs: number): RetentionJob {
  return {
    name: 'projector_dead_letters',
    retentionMs,
    async purgeChunk(olderThan, limit) {
      const result = await pool.query(
        `DELETE FROM dead_letters WHERE id IN (
           SELECT id FROM dead_letters
            WHERE consumer = $1 AND status NOT IN ('parked', 'waiting') AND resolved_at < $2
            LIMIT $3)`,
        [consumer, olderThan, limit],
      );
      return result.rowCount ?? 0;
    },
  };
}
