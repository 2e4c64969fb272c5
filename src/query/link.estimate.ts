import { LocusError } from '../shared/errors.js';
import type { Queryable } from './read-store.js';
import type { LinkEstimate } from './strategy.router.js';

/** Each half of the link is either configured or measured against the replica. */
export interface LinkSetting {
  rttMs: number | 'measure';
  megabitsPerSecond: number | 'measure';
}

/** The link as the router weighs it, and where each half came from. */
export interface Link extends LinkEstimate {
  rttSource: 'configured' | 'measured';
  throughputSource: 'configured' | 'measured';
}

/** What one probe of the replica measured. */
export interface LinkProbe {
  rttMs: number;
  bytesPerSecond: number;
}

/**
 * The throughput probe: rows about as wide as a review, adding up to a result large against the
 * shaper's burst bucket (so the rate it measures is the link's sustained one), yet a fraction of a
 * second on a slow link.
 */
const PROBE_ROW_TEXT = 1024;
const PROBE_ROWS = 2048;
/** The probe's bytes on the wire: each DataRow adds its header and one field length to the text. */
const PROBE_BYTES = PROBE_ROWS * (PROBE_ROW_TEXT + 7 + 4);
/** Each is the fastest of a few: queueing on a busy host only ever adds time. */
const RTT_PROBES = 3;
const THROUGHPUT_PROBES = 3;
/** A transfer faster than the clock's resolution would divide by nothing. */
const MIN_TRANSFER_MS = 0.05;

function settingOf(name: string, value: string): number | 'measure' {
  if (value === 'measure') return value;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new LocusError(
      'LOCUS_CONFIG_INVALID',
      `${name} must be "measure" or a positive number, got "${value}"`,
    );
  }
  return number;
}

/**
 * The link settings: LOCUS_QUERY_LINK_RTT_MS (milliseconds) and LOCUS_QUERY_LINK_MBPS (megabits per
 * second, as network links are rated), each `measure` or a positive number.
 * @throws LocusError LOCUS_CONFIG_INVALID naming the setting.
 */
export function linkSettingOf(
  config: Readonly<{ LOCUS_QUERY_LINK_RTT_MS: string; LOCUS_QUERY_LINK_MBPS: string }>,
): LinkSetting {
  return {
    rttMs: settingOf('LOCUS_QUERY_LINK_RTT_MS', config.LOCUS_QUERY_LINK_RTT_MS),
    megabitsPerSecond: settingOf('LOCUS_QUERY_LINK_MBPS', config.LOCUS_QUERY_LINK_MBPS),
  };
}

/** Whether anything must be measured at all. */
export function needsProbe(setting: LinkSetting): boolean {
  return setting.rttMs === 'measure' || setting.megabitsPerSecond === 'measure';
}

/**
 * Throughput from one timed transfer: its time less the round trip that carried the request is the
 * time the bytes took.
 */
export function throughputOf(bytes: number, elapsedMs: number, rttMs: number): number {
  return (bytes / Math.max(MIN_TRANSFER_MS, elapsedMs - rttMs)) * 1000;
}

/**
 * The link from its settings, measured halves taken from `probe`. Without a probe (none was needed,
 * or it failed) a measured half is unknown: then null, and the router falls back to counting rows.
 */
export function linkOf(setting: LinkSetting, probe: LinkProbe | undefined): Link | null {
  const rttMs = setting.rttMs === 'measure' ? probe?.rttMs : setting.rttMs;
  const bytesPerSecond =
    setting.megabitsPerSecond === 'measure' ? probe?.bytesPerSecond : (setting.megabitsPerSecond * 1e6) / 8;
  if (rttMs === undefined || bytesPerSecond === undefined) return null;
  return {
    rttMs,
    bytesPerSecond,
    rttSource: setting.rttMs === 'measure' ? 'measured' : 'configured',
    throughputSource: setting.megabitsPerSecond === 'measure' ? 'measured' : 'configured',
  };
}

/**
 * Measures the link to the replica on one connection: the round trip as the fastest of a few trivial
 * queries, the throughput from the fastest of a few results of PROBE_BYTES. The caller holds the
 * connection, so pool waits are not counted.
 */
export async function probeLink(client: Queryable): Promise<LinkProbe> {
  const fastest = async (times: number, sql: string, values: unknown[] = []) => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < times; i++) {
      const started = performance.now();
      await client.query(sql, values);
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };
  const rttMs = await fastest(RTT_PROBES, 'SELECT 1');
  const transferMs = await fastest(
    THROUGHPUT_PROBES,
    "SELECT repeat('x', $1::int) AS probe FROM generate_series(1, $2::int)",
    [PROBE_ROW_TEXT, PROBE_ROWS],
  );
  return { rttMs, bytesPerSecond: throughputOf(PROBE_BYTES, transferMs, rttMs) };
}
