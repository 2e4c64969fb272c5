import type pg from 'pg';
import type { RelayDeadLetter, RelayDeadLetterStore } from './relay-dead-letters.js';

interface ParkedRow {
  id: string;
  topic: string;
  partition_key: string;
  event_type: string | null;
  aggregate_version: string;
  park_reason: string;
  parked_at: Date;
  waiting: number;
}

/** A parked row: kept unpublished, with its reason (migrations/catalog/0003_outbox_dead_letters.sql). */
const PARKED = 'parked_at IS NOT NULL AND published_at IS NULL';

/**
 * The catalog outbox's relay dead letters: parked rows of `outbox`. Retry clears the mark, so the
 * row is pending again and, having the lowest id of its key, goes out before the rows behind it.
 */
export class PostgresOutboxDeadLetters implements RelayDeadLetterStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly source = 'catalog',
  ) {}

  async list(limit: number): Promise<RelayDeadLetter[]> {
    const result = await this.pool.query<ParkedRow>(
      `SELECT o.id::text, o.topic, o.partition_key, o.envelope->>'type' AS event_type,
              o.aggregate_version::text, o.park_reason, o.parked_at,
              (SELECT count(*)::int FROM outbox w
                WHERE w.partition_key = o.partition_key AND w.published_at IS NULL AND w.id > o.id) AS waiting
         FROM outbox o WHERE o.${PARKED} ORDER BY o.id LIMIT $1`,
      [limit],
    );
    return result.rows.map((row) => ({
      source: this.source,
      id: row.id,
      topic: row.topic,
      key: row.partition_key,
      eventType: row.event_type,
      aggregateVersion: Number(row.aggregate_version),
      reason: row.park_reason,
      parkedAt: row.parked_at,
      waiting: row.waiting,
    }));
  }

  async count(): Promise<number> {
    const result = await this.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM outbox WHERE ${PARKED}`,
    );
    return result.rows[0]?.n ?? 0;
  }

  async retry(id: string): Promise<boolean> {
    if (!/^\d{1,18}$/.test(id)) return false;
    const result = await this.pool.query(
      `UPDATE outbox SET parked_at = NULL, park_reason = NULL WHERE id = $1 AND ${PARKED}`,
      [id],
    );
    return result.rowCount === 1;
  }

  async skip(id: string): Promise<boolean> {
    if (!/^\d{1,18}$/.test(id)) return false;
    const result = await this.pool.query(
      `UPDATE outbox SET published_at = now(), skipped_at = now() WHERE id = $1 AND ${PARKED}`,
      [id],
    );
    return result.rowCount === 1;
  }
}
