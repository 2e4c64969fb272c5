import type pg from 'pg';
import type { EventEnvelope } from '../contracts/envelope.js';
import { createPool } from '../shared/postgres.js';
import type { OutboxSource, PendingEvent } from './outbox-source.js';

/** Must match the `lane` column of migrations/catalog/0001_catalog.sql. */
export const OUTBOX_LANES = 16;
/** First key of the lanes' advisory locks ('locu' in ASCII), so they collide with no other lock. */
export const LANE_LOCK_NAMESPACE = 0x6c6f6375;

export interface PostgresOutboxSourceOptions {
  url: string;
  name?: string;
  /** Longest wait between polls of an idle outbox (default 100 ms). */
  pollIntervalMs?: number;
  /** Most lanes one batch claims (default all 16); fewer lets several relays share the load. */
  lanesPerBatch?: number;
}

interface OutboxRow {
  id: number;
  topic: string;
  partition_key: string;
  envelope: EventEnvelope;
  created_at: Date;
}

// Lanes with pending work, in the given (shuffled) order, locked as they are found, at most $3.
// OFFSET 0 keeps the EXISTS filter below the lock call, so only lanes with work are locked.
const CLAIM_LANES = `
  SELECT lane FROM (
    SELECT l.lane FROM unnest($2::int[]) AS l(lane)
    WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.lane = l.lane AND o.published_at IS NULL)
    OFFSET 0
  ) with_work
  WHERE pg_try_advisory_xact_lock($1, lane)
  LIMIT $3`;

const PENDING_IN_LANES = `
  SELECT id, topic, partition_key, envelope, created_at FROM outbox
  WHERE published_at IS NULL AND lane = ANY($1::int[])
  ORDER BY id LIMIT $2`;

/**
 * The catalog store's outbox for the relay.
 *
 * Several relays may run at once. The outbox is split into 16 lanes by a hash of the partition key
 * (a stored column, so every relay agrees); a batch takes `pg_try_advisory_xact_lock` on the lanes it
 * publishes and holds them, in its transaction, from reading the rows until they are marked
 * published. So one key's events are only ever in one relay's hands, and they go out in outbox id
 * order, which for one aggregate is version order (its writes serialise on its row lock). We chose
 * lanes over a leader lease because a lane lock is released by the database the moment a relay's
 * session dies (no lease expiry to wait for, no clock), and because several relays share the work
 * instead of idling behind a leader.
 *
 * Delivery is at-least-once: rows are marked only after `publish` resolves, in the same
 * transaction; a crash or a throw before the commit leaves them pending and they are sent again.
 * Rows committed out of id order are not skipped: the read is by `published_at IS NULL`, not by a
 * high-water mark.
 */
export class PostgresOutboxSource implements OutboxSource {
  readonly name: string;
  private readonly pool: pg.Pool;
  readonly pollIntervalMs: number;
  private readonly lanesPerBatch: number;

  constructor(options: PostgresOutboxSourceOptions) {
    this.name = options.name ?? 'catalog';
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.lanesPerBatch = options.lanesPerBatch ?? OUTBOX_LANES;
    this.pool = createPool(options.url, { applicationName: `locus-relay-${this.name}`, max: 4 });
  }

  async publishBatch(limit: number, publish: (events: PendingEvent[]) => Promise<void>): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const lanes = await client.query<{ lane: number }>(CLAIM_LANES, [
        LANE_LOCK_NAMESPACE,
        shuffledLanes(),
        this.lanesPerBatch,
      ]);
      if (lanes.rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const rows = await client.query<OutboxRow>(PENDING_IN_LANES, [lanes.rows.map((r) => r.lane), limit]);
      if (rows.rows.length > 0) {
        await publish(rows.rows.map(toPendingEvent));
        await client.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
          rows.rows.map((r) => r.id),
        ]);
      }
      await client.query('COMMIT');
      return rows.rows.length;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Deletes published rows older than `olderThan` in chunks, so no statement holds locks for long. */
  async purgePublished(olderThan: Date): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.pool.query(
        `DELETE FROM outbox WHERE id IN (
           SELECT id FROM outbox WHERE published_at IS NOT NULL AND published_at < $1 LIMIT 10000)`,
        [olderThan],
      );
      total += result.rowCount ?? 0;
      if ((result.rowCount ?? 0) < 10_000) return total;
    }
  }

  async pendingCount(): Promise<number> {
    const result = await this.pool.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM outbox WHERE published_at IS NULL',
    );
    return result.rows[0]?.count ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function toPendingEvent(row: OutboxRow): PendingEvent {
  return {
    outboxId: String(row.id),
    topic: row.topic,
    key: row.partition_key,
    envelope: row.envelope,
    createdAt: row.created_at,
  };
}

/** Every lane in random order, so relays sharing an outbox do not all start at lane 0. */
function shuffledLanes(): number[] {
  const lanes = Array.from({ length: OUTBOX_LANES }, (_, i) => i);
  for (let i = lanes.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [lanes[i], lanes[j]] = [lanes[j]!, lanes[i]!];
  }
  return lanes;
}
