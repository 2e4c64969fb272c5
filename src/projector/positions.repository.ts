import type pg from 'pg';
import type { PartitionPosition } from '../messaging/kafka.js';
import type { Tx } from './projection.types.js';

/**
 * Serialises every batch transaction of one consumer, across processes: the rating and category
 * summaries are recomputed from rows other partitions also write, which is only correct when no other
 * batch of the same projection commits in between. A rebuild's swap takes the same lock.
 */
export async function lockConsumer(tx: Tx, consumer: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`locus-projector:${consumer}`]);
}

/**
 * The stored next offsets of the given partitions (by `topic/partition`; absent = none), locked until
 * the transaction ends. One round trip for every partition of a group commit.
 */
export async function storedOffsetsForUpdate(
  tx: Tx,
  consumer: string,
  partitions: readonly { topic: string; partition: number }[],
): Promise<Map<string, bigint>> {
  const result = await tx.query<{ topic: string; partition: number; next_offset: string }>(
    `SELECT topic, partition, next_offset::text FROM projector_positions
     WHERE consumer = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
     FOR UPDATE`,
    [consumer, partitions.map((p) => p.topic), partitions.map((p) => p.partition)],
  );
  return new Map(result.rows.map((row) => [`${row.topic}/${row.partition}`, BigInt(row.next_offset)]));
}

/**
 * Stores where partitions resume, in one statement. GREATEST: a stale re-delivery never moves a
 * position back.
 */
export async function storePositions(
  tx: Tx,
  consumer: string,
  positions: readonly { topic: string; partition: number; nextOffset: string }[],
): Promise<void> {
  if (positions.length === 0) return;
  await tx.query(
    `INSERT INTO projector_positions AS p (consumer, topic, partition, next_offset)
     SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])
     ON CONFLICT (consumer, topic, partition) DO UPDATE
       SET next_offset = GREATEST(p.next_offset, excluded.next_offset), updated_at = now()`,
    [
      consumer,
      positions.map((p) => p.topic),
      positions.map((p) => p.partition),
      positions.map((p) => p.nextOffset),
    ],
  );
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
 * Records the read store's WAL position right after a committed batch, so a reader of the replica can
 * tell whether the replica has replayed that batch. Runs on its own, after the batch's COMMIT.
 */
export async function recordCommit(
  db: pg.PoolClient,
  consumer: string,
  batchEvents: number,
): Promise<string> {
  const result = await db.query<{ commit_lsn: string }>(
    `INSERT INTO projector_commits AS c (consumer, commit_lsn, committed_at, batch_events)
     VALUES ($1, pg_current_wal_lsn(), now(), $2)
     ON CONFLICT (consumer) DO UPDATE SET commit_lsn = GREATEST(c.commit_lsn, excluded.commit_lsn),
       committed_at = excluded.committed_at, batch_events = excluded.batch_events
     RETURNING commit_lsn::text`,
    [consumer, batchEvents],
  );
  return result.rows[0]?.commit_lsn ?? '0/0';
}
