import type { Change, Tx, ViewTables } from './projection.types.js';
import { arrayLiteral } from '../shared/postgres.js';

/**
 * Records the versions of `changes` in applied_versions and returns the changes that were newer than
 * what was recorded: only those may touch the views. A delete leaves a tombstone (deleted = true) so
 * a late, older update never brings the row back. One statement for the whole batch.
 * `changes` must hold at most one change per aggregate (see dedupeChanges).
 */
export async function acceptNewer(tx: Tx, tables: ViewTables, changes: readonly Change[]): Promise<Change[]> {
  if (changes.length === 0) return [];
  const result = await tx.query<{ aggregate_type: string; aggregate_id: string }>(
    `INSERT INTO ${tables.appliedVersions} AS av (aggregate_type, aggregate_id, version, deleted, event_time)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::boolean[], $5::timestamptz[])
     ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET version = excluded.version, deleted = excluded.deleted,
           event_time = excluded.event_time, applied_at = now()
       WHERE av.version < excluded.version
     RETURNING aggregate_type, aggregate_id`,
    [
      arrayLiteral(changes.map((c) => c.aggregateType)),
      arrayLiteral(changes.map((c) => c.id)),
      arrayLiteral(changes.map((c) => c.version)),
      arrayLiteral(changes.map((c) => c.deleted)),
      arrayLiteral(changes.map((c) => c.eventTime)),
    ],
  );
  const accepted = new Set(result.rows.map((row) => `${row.aggregate_type}:${row.aggregate_id}`));
  return changes.filter((c) => accepted.has(`${c.aggregateType}:${c.id}`));
}
