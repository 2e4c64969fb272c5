import type pg from 'pg';
import type { PartitionPosition } from '../messaging/kafka.js';
import { arrayLiteral, type Statement } from '../shared/postgres.js';
import type { Tx } from './projection.types.js';

/**
 * Serialises every batch transaction of one consumer, across processes: the rating and category
 * summaries are recomputed from rows other partitions also write, which is only correct when no other
 * batch of the same projection commits in between. A rebuild's swap takes the same lock.
 */
export function lockConsumerStatement(consumer: string): Statement {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [`locus-projector:${consumer}`] };
}

export async function lockConsumer(tx: Tx, consumer: string): Promise<void> {
  const { text, values } = lockConsumerStatement(consumer);
  await tx.query(text, [...values]);
}

/**
 * The stored next offsets of the given partitions, locked until the transaction ends (read them with
 * storedOffsetsOf). One statement for every partition of a group commit.
 */
export function storedOffsetsStatement(
  consumer: string,
  partitions: readonly { topic: string; partition: number }[],
): Statement {
  return {
    text: `SELECT topic, partition, next_offset::text FROM projector_positions
     WHERE consumer = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
     FOR UPDATE`,
    values: [
      consumer,
      arrayLiteral(partitions.map((p) => p.topic)),
      arrayLiteral(partitions.map((p) => p.partition)),
    ],
  };
}

/** The rows of storedOffsetsStatement by `topic/partition` (absent = no stored position). */
export function storedOffsetsOf(
  rows: readonly { topic: string; partition: number; next_offset: string }[],
): Map<string, bigint> {
  return new Map(rows.map((row) => [`${row.topic}/${row.partition}`, BigInt(row.next_offset)]));
}

/**
 * Stores where partitions resume, in one statement. GREATEST: a stale re-delivery never moves a
 * position back.
 */
export function storePositionsStatement(
  consumer: string,
  positions: readonly { topic: string; partition: number; nextOffset: string }[],
): Statement {
  return {
    text: `INSERT INTO projector_positions AS p (consumer, topic, partition, next_offset)
     SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])
     ON CONFLICT (consumer, topic, partition) DO UPDATE
       SET next_offset = GREATEST(p.next_offset, excluded.next_offset), updated_at = now()`,
    values: [
      consumer,
      arrayLiteral(positions.map((p) => p.topic)),
      arrayLiteral(positions.map((p) => p.partition)),
      arrayLiteral(positions.map((p) => p.nextOffset)),
    ],
  };
}

/** Every stored position of a consumer (partitions never seen are absent: they start at 0). */
export async function loadPositions(
  db: pg.Pool | Tx,
  consumer: string,
  topics?: readonly string[],
): Promise<PartitionPosition[]> {
  const result = await db.query<{ topic: string; partition: number; next_offset: string }>(
    `SELECT topic, partition, next_offset::text FROM projector_positions
     WHERE consumer = $1 AND ($2::text[] IS NULL OR topic = ANY($2::text[]))`,
    [consumer, topics ?? null],
  );
  return result.rows.map((row) => ({ topic: row.topic, partition: row.partition, offset: row.next_offset }));
}

/**
 * Records a batch in projector_commits: the read store's WAL position after the batch's changes, and
 * the time, so the replica's readers can tell how far behind the projector it is. Runs last in the
 * batch's own transaction, just before its COMMIT: a statement after a pipelined COMMIT would run even
 * when the batch rolled back, and a reader that sees this row sees the whole batch. Returns
 * `commit_lsn`.
 */
export function recordCommitStatement(consumer: string, batchEvents: number): Statement {
  return {
    text: `INSERT INTO projector_commits AS c (consumer, commit_lsn, committed_at, batch_events)
     VALUES ($1, pg_current_wal_insert_lsn(), clock_timestamp(), $2)
     ON CONFLICT (consumer) DO UPDATE SET commit_lsn = GREATEST(c.commit_lsn, excluded.commit_lsn),
       committed_at = excluded.committed_at, batch_events = excluded.batch_events
     RETURNING commit_lsn::text`,
    values: [consumer, batchEvents],
  };
}
