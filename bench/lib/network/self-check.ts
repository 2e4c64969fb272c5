import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../../src/migrate/migrator.js';
import type { NetworkLink } from './network-link.js';
import type { NetworkProfile } from './profiles.js';

const run = promisify(execFile);

/** What the self-check measured across a link. */
export interface LinkMeasurement {
  /** Median of the round trips, in ms. */
  rttMs: number;
  /** Seconds `bytes` took towards the service (the direction rows travel) and from it. */
  toServiceSeconds: number;
  fromServiceSeconds: number;
  bytes: number;
}

/** How far a measurement may be from the profile: the rate ±15%; the RTT ±20% or 0.3 ms. */
export const RATE_TOLERANCE = 0.15;
export const RTT_TOLERANCE = { relative: 0.2, absoluteMs: 0.3 };

/** The seconds `bytes` take at the profile's rate: what a transfer should take. */
export function expectedSeconds(profile: NetworkProfile, bytes: number): number {
  return (bytes * 8) / profile.bitsPerSecond!;
}

/** Each way the measurement misses the profile, as sentences; none when the shaping is real. */
export function judgeLink(profile: NetworkProfile, measured: LinkMeasurement): string[] {
  const problems: string[] = [];
  const expected = expectedSeconds(profile, measured.bytes);
  for (const [direction, seconds] of [
    ['towards the service', measured.toServiceSeconds],
    ['from the service', measured.fromServiceSeconds],
  ] as const) {
    const deviation = seconds / expected - 1;
    // A host-bound profile may be slower than its rate (the host is), never faster (the shaping is).
    if (deviation < -RATE_TOLERANCE || (deviation > RATE_TOLERANCE && !profile.hostBound))
      problems.push(
        `${measured.bytes} bytes ${direction} took ${seconds.toFixed(3)} s, expected ${expected.toFixed(3)} s ±${RATE_TOLERANCE * 100}%`,
      );
  }
  const slack = Math.max(RTT_TOLERANCE.absoluteMs, profile.rttMs * RTT_TOLERANCE.relative);
  if (Math.abs(measured.rttMs - profile.rttMs) > slack)
    problems.push(
      `a round trip took ${measured.rttMs.toFixed(3)} ms, expected ${profile.rttMs} ms ±${slack.toFixed(2)} ms`,
    );
  return problems;
}

/**
 * Measures the link from behind it (a probe client started with the link's launcher, talking to the
 * link's probe server through the delay proxy): the RTT, then `bytes` each way.
 * @throws Error when the probe fails.
 */
export async function measureLink(
  link: NetworkLink,
  bytes = 100 * 1024 * 1024,
  roundTrips = 50,
): Promise<LinkMeasurement> {
  const self = fileURLToPath(import.meta.url);
  const client = self.replace(/self-check\.(ts|js)$/, 'probe-client.main.$1');
  const loader = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const { host, port } = link.reach('probe');
  const [command, ...prefix] = [...link.launcher, process.execPath];
  const { stdout } = await run(
    command,
    [...prefix, ...loader, client, host, String(port), String(bytes), String(roundTrips)],
    { cwd: REPO_ROOT, timeout: 120_000 },
  );
  const measured = JSON.parse(stdout.trim().split('\n').at(-1)!) as Omit<LinkMeasurement, 'bytes'>;
  return { ...measured, bytes };
}

/**
 * Measures the link and throws unless it matches its profile: the benchmark runs this before each
 * profile's measurements, so a link that is not shaped is never reported as one that is. A link can
 * only measure slower than its profile when the host is busy (the delay proxy needs a core at 1 Gbit/s),
 * so a miss is measured again, up to `attempts` times, before it counts.
 * @throws Error listing how the last attempt missed the profile.
 */
export async function assertLinkShaped(link: NetworkLink, attempts = 3): Promise<LinkMeasurement> {
  let problems: string[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const measured = await measureLink(link);
    problems = judgeLink(link.profile, measured);
    if (problems.length === 0) return measured;
  }
  throw new Error(
    `the ${link.profile.name} link is not shaped as its profile says (${attempts} attempts): ${problems.join('; ')}`,
  );
}
