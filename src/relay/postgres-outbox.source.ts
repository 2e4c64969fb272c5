import type pg from 'pg';
import type { EventEnvelope } from '../contracts/envelope.js';
import { createPool } from '../shared/postgres.js';
import type { OutboxSource, PendingEvent, Publish } from './outbox-source.js';
import { PostgresOutboxDeadLetters } from './postgres-dead-letters.js';

/** Must match the `lane` column of migrations/catalog/0001_catalog.sql. */
const OUTBOX_LANES = 16;
/** First key of the lanes' advisory locks ('locu' in ASCII), so they collide with no other lock. */
const LANE_LOCK_NAMESPACE = 0x6c6f6375;

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
    WHERE EXISTS (
      SELECT 1 FROM outbox o WHERE o.lane = l.lane AND o.published_at IS NULL AND o.parked_at IS NULL)
    OFFSET 0
  ) with_work
  WHERE pg_try_advisory_xact_lock($1, lane)
  LIMIT $3`;

// A key with a parked row (a relay dead letter) is left out: its later rows wait behind it.
const PENDING_IN_LANES = `
  SELECT id, topic, partition_key, envelope, created_at FROM outbox o
  WHERE published_at IS NULL AND parked_at IS NULL AND lane = ANY($1::int[])
    AND NOT EXISTS (
      SELECT 1 FROM outbox p
      WHERE p.partition_key = o.partition_key AND p.parked_at IS NOT NULL AND p.published_at IS NULL)
  ORDER BY id LIMIT $2`;

const MARK_PARKED = `
  UPDATE outbox SET parked_at = now(), park_reason = p.reason
  FROM unnest($1::bigint[], $2::text[]) AS p(id, reason) WHERE outbox.id = p.id`;

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
 *
 * A row `publish` reports as unpublishable is parked in place (`parked_at`, `park_reason`) in the
 * same transaction; the pending read leaves out every row of a key with a parked row, so that key
 * waits and the others flow (see PostgresOutboxDeadLetters for retry and skip).
 */
export class PostgresOutboxSource implements OutboxSource {
  readonly name: string;
  private readonly pool: pg.Pool;
  readonly pollIntervalMs: number;
  private readonly lanesPerBatch: number;
  readonly deadLetters: PostgresOutboxDeadLetters;

  constructor(options: PostgresOutboxSourceOptions) {
    this.name = options.name ?? 'catalog';
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.lanesPerBatch = options.lanesPerBatch ?? OUTBOX_LANES;
    this.pool = createPool(options.url, { applicationName: `locus-relay-${this.name}`, max: 4 });
    this.deadLetters = new PostgresOutboxDeadLetters(this.pool, this.name);
  }

  async publishBatch(limit: number, publish: Publish): Promise<number> {
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
      let published = 0;
      if (rows.rows.length > 0) {
        const events = rows.rows.map(toPendingEvent);
        const outcome = (await publish(events)) ?? { published: events, parked: [] };
        published = outcome.published.length;
        await client.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
          outcome.published.map((event) => event.outboxId),
        ]);
        if (outcome.parked.length > 0) {
          await client.query(MARK_PARKED, [
            outcome.parked.map(({ event }) => event.outboxId),
            outcome.parked.map(({ reason }) => reason),
          ]);
        }
      }
      await client.query('COMMIT');
      return published;
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
      'SELECT count(*)::int AS count FROM outbox WHERE published_at IS NULL AND parked_at IS NULL',
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
