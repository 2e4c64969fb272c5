import type pg from 'pg';
import { LocusError } from '../shared/errors.js';

/**
 * What the server behind LOCUS_READ_REPLICA_URL really is: a standby streaming from its primary, a
 * standby whose WAL receiver is gone (disconnected: it replays nothing new), a server not in recovery
 * (a primary, or a promoted replica: the URL is wrong or the replica was failed over), one whose
 * receiver the query role may not see (needs pg_read_all_stats), or one that does not answer.
 */
export type ReplicaStatus = 'streaming' | 'disconnected' | 'not-in-recovery' | 'hidden' | 'unreachable';

/** One round trip on the replica: the facts freshness is decided from. */
export interface ReplicaProbe {
  inRecovery: boolean;
  /** `pg_stat_wal_receiver.status`; null when no WAL receiver runs, 'hidden' when not visible to us. */
  receiverStatus: string | null;
  /** `pg_last_wal_replay_lsn()`; null on a server not in recovery. */
  replayLsn: string | null;
  /** Age of the last replayed commit; null when none was replayed since the server started. */
  replayAgeMs: number | null;
  /** Age of the projector's newest commit as the replica shows it; null before its first commit. */
  projectorCommitAgeMs: number | null;
}

/** The read primary's answer: how many WAL bytes it has written past the replica's replay position. */
export type PrimaryComparison = { bytesAhead: number } | { unknown: string };

export interface ReplicaFreshness {
  status: Exclude<ReplicaStatus, 'unreachable'>;
  /** At most how far behind the read primary the replica's data is; null when that cannot be known. */
  lagMs: number | null;
  /** Why `lagMs` is null, for the 503's message. */
  unknownBecause?: string;
  projectorCommitAgeMs: number | null;
  measuredAt: number;
}

/**
 * Decides the replica's freshness from the probe and the primary's position.
 * A replica whose replay position has reached what the primary has written is current, whatever its
 * replay timestamp says (an idle primary writes nothing to replay). Behind, its data is at most as old
 * as its last replayed commit, and at most as old as the last moment it was seen current
 * (`lastCurrentAt`, same clock as `now`): after a long idle spell the replay timestamp alone would
 * report hours for a commit made milliseconds ago.
 */
export function freshnessOf(
  probe: ReplicaProbe,
  primary: PrimaryComparison | undefined,
  now: number,
  lastCurrentAt: number | undefined,
): ReplicaFreshness {
  const base = { projectorCommitAgeMs: probe.projectorCommitAgeMs, measuredAt: now };
  if (!probe.inRecovery) {
    return {
      ...base,
      status: 'not-in-recovery',
      lagMs: null,
      unknownBecause:
        'the replica URL names a server that is not in recovery (a primary, or a promoted replica)',
    };
  }
  if (probe.receiverStatus === 'hidden') {
    return {
      ...base,
      status: 'hidden',
      lagMs: null,
      unknownBecause: 'its WAL receiver is not visible to the query role (grant it pg_read_all_stats)',
    };
  }
  if (probe.receiverStatus !== 'streaming') {
    return {
      ...base,
      status: 'disconnected',
      lagMs: null,
      unknownBecause: `the replica is disconnected from its primary (WAL receiver ${probe.receiverStatus ?? 'not running'})`,
    };
  }
  if (!primary || 'unknown' in primary) {
    return {
      ...base,
      status: 'streaming',
      lagMs: null,
      unknownBecause: `its freshness cannot be known: ${primary?.unknown ?? 'no position from the read primary'}`,
    };
  }
  if (primary.bytesAhead <= 0) return { ...base, status: 'streaming', lagMs: 0 };
  const bounds = [probe.replayAgeMs, lastCurrentAt === undefined ? null : now - lastCurrentAt].filter(
    (bound): bound is number => bound !== null,
  );
  if (bounds.length === 0) {
    return {
      ...base,
      status: 'streaming',
      lagMs: null,
      unknownBecause:
        'its freshness cannot be known: it is behind and has replayed no commit since it started',
    };
  }
  return { ...base, status: 'streaming', lagMs: Math.max(0, Math.min(...bounds)) };
}

/** Longest Retry-After a lagging replica asks for: its lag may end any moment. */
const MAX_LAG_RETRY_AFTER_SECONDS = 30;
/** A replica that is not one, or is cut off, needs an operator: clients back off longer. */
const BROKEN_REPLICA_RETRY_AFTER_SECONDS = 5;

/**
 * Why a heavy query may not run on this replica, or undefined when it may: it must be a streaming
 * standby whose lag is known and within `maxLagMs`.
 */
export function heavyRefusal(freshness: ReplicaFreshness, maxLagMs: number): LocusError | undefined {
  if (freshness.lagMs === null) {
    const streaming = freshness.status === 'streaming';
    return new LocusError('LOCUS_REPLICA_UNAVAILABLE', `replica unusable: ${freshness.unknownBecause}`, {
      retryAfterSeconds: streaming ? 1 : BROKEN_REPLICA_RETRY_AFTER_SECONDS,
    });
  }
  if (freshness.lagMs > maxLagMs) {
    return new LocusError(
      'LOCUS_REPLICA_LAGGING',
      `the replica is ${Math.round(freshness.lagMs)} ms behind (bound ${maxLagMs} ms)`,
      {
        retryAfterSeconds: Math.min(
          MAX_LAG_RETRY_AFTER_SECONDS,
          Math.max(1, Math.ceil(freshness.lagMs / 1000)),
        ),
      },
    );
  }
  return undefined;
}

/** The probe's one statement (no parameters: it may share a simple-protocol string with others). */
export const PROBE_SQL = `SELECT pg_is_in_recovery() AS in_recovery,
            (SELECT COALESCE(status, 'hidden') FROM pg_stat_wal_receiver) AS receiver_status,
            pg_last_wal_replay_lsn()::text AS replay_lsn,
            (EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8
              AS replay_age_ms,
            (SELECT GREATEST(0, EXTRACT(EPOCH FROM now() - max(committed_at)) * 1000)::float8
             FROM projector_commits) AS commit_age_ms`;

/** A row of PROBE_SQL as a ReplicaProbe. */
export function probeFromRow(row: {
  in_recovery: boolean;
  receiver_status: string | null;
  replay_lsn: string | null;
  replay_age_ms: number | null;
  commit_age_ms: number | null;
}): ReplicaProbe {
  return {
    inRecovery: row.in_recovery,
    receiverStatus: row.receiver_status,
    replayLsn: row.replay_lsn,
    // null until it has replayed a commit (GREATEST would have turned that into 0: "current").
    replayAgeMs: row.replay_age_ms === null ? null : Math.max(0, row.replay_age_ms),
    projectorCommitAgeMs: row.commit_age_ms,
  };
}

/** One round trip on the replica pool's server; see ReplicaProbe. */
export async function probeReplica(replica: Pick<pg.Pool, 'query'>): Promise<ReplicaProbe> {
  const { rows } = await replica.query<Parameters<typeof probeFromRow>[0]>(PROBE_SQL);
  return probeFromRow(rows[0]!);
}

/** The read primary's current WAL position (`pg_current_wal_lsn()`), as `X/Y` text. */
export async function primaryWalPosition(primary: Pick<pg.Pool, 'query'>): Promise<string> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0]!.lsn;
}

/**
 * How many WAL bytes `primaryLsn` is past `replayLsn` (both `X/Y` text). Computed here rather than by
 * pg_wal_lsn_diff on the primary so that the primary can be asked without waiting for the replica's
 * position. The comparison needs no track_commit_timestamp and is exact: equal positions mean the
 * replica has every commit the primary had when asked.
 */
export function walBytesAhead(primaryLsn: string, replayLsn: string): number {
  return Number(lsnValue(primaryLsn) - lsnValue(replayLsn));
}

function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  if (high === undefined || low === undefined) throw new RangeError(`not a WAL position: ${lsn}`);
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}
