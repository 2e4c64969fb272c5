import { describe, expect, it } from 'vitest';
import { freshnessOf, heavyRefusal, type ReplicaProbe } from '../../src/query/replica.freshness.js';

const streaming: ReplicaProbe = {
  inRecovery: true,
  receiverStatus: 'streaming',
  replayLsn: '0/3000000',
  replayAgeMs: 3_600_000,
  projectorCommitAgeMs: 40,
};

describe('replica freshness', () => {
  it('a standby that has replayed all the primary wrote is current, however old its last replayed commit', () => {
    const reading = freshnessOf(streaming, { bytesAhead: 0 }, 1_000, undefined);
    expect(reading).toMatchObject({ status: 'streaming', lagMs: 0, projectorCommitAgeMs: 40 });
    expect(heavyRefusal(reading, 5_000)).toBeUndefined();
  });

  it('behind the primary: at most as old as its last replayed commit, or as the last time it was seen current', () => {
    expect(freshnessOf(streaming, { bytesAhead: 10 }, 10_000, undefined).lagMs).toBe(3_600_000);
    expect(freshnessOf(streaming, { bytesAhead: 10 }, 10_000, 9_800).lagMs).toBe(200);
    expect(freshnessOf({ ...streaming, replayAgeMs: 50 }, { bytesAhead: 10 }, 10_000, 9_000).lagMs).toBe(50);
  });

  it('behind with no replayed commit and never seen current: unknown, not 0', () => {
    const reading = freshnessOf({ ...streaming, replayAgeMs: null }, { bytesAhead: 10 }, 10_000, undefined);
    expect(reading.lagMs).toBeNull();
    expect(heavyRefusal(reading, 5_000)?.code).toBe('LOCUS_REPLICA_UNAVAILABLE');
  });

  it('lag beyond the bound: LOCUS_REPLICA_LAGGING with a Retry-After that stays reasonable', () => {
    const refusal = heavyRefusal(freshnessOf(streaming, { bytesAhead: 10 }, 10_000, undefined), 5_000);
    expect(refusal?.code).toBe('LOCUS_REPLICA_LAGGING');
    expect(refusal?.retryAfterSeconds).toBe(30);
    const slight = heavyRefusal(freshnessOf(streaming, { bytesAhead: 10 }, 10_000, 8_500), 1_000);
    expect(slight?.retryAfterSeconds).toBe(2);
  });

  it.each([
    [
      { ...streaming, inRecovery: false, receiverStatus: null, replayLsn: null },
      'not-in-recovery',
      /not in recovery/,
    ],
    [{ ...streaming, receiverStatus: null }, 'disconnected', /disconnected.*not running/],
    [{ ...streaming, receiverStatus: 'waiting' }, 'disconnected', /disconnected.*waiting/],
    [{ ...streaming, receiverStatus: 'hidden' }, 'hidden', /pg_read_all_stats/],
  ] as const)(
    '%# a replica that is not streaming is refused whatever the primary says: %s',
    (probe, status, why) => {
      const reading = freshnessOf(probe, { bytesAhead: 0 }, 1_000, 900);
      expect(reading).toMatchObject({ status, lagMs: null });
      const refusal = heavyRefusal(reading, 5_000);
      expect(refusal?.code).toBe('LOCUS_REPLICA_UNAVAILABLE');
      expect(refusal?.message).toMatch(why);
      expect(refusal?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    },
  );

  it('the primary cannot be asked: freshness unknown, heavy queries refused', () => {
    for (const primary of [undefined, { unknown: 'the read primary did not report its WAL position' }]) {
      const reading = freshnessOf(streaming, primary, 1_000, 900);
      expect(reading).toMatchObject({ status: 'streaming', lagMs: null });
      expect(heavyRefusal(reading, 5_000)?.message).toMatch(/cannot be known/);
    }
  });
});
