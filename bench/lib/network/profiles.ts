/**
 * The links a benchmark can put between the query service and what it reads (issue 17): `loopback` is
 * no link at all (today's setup); the others are a veth pair shaped by tbf, plus a userspace delay
 * proxy for the round trip, since this kernel has no netem.
 */
export interface NetworkProfile {
  name: NetworkProfileName;
  /** Link rate in bits per second, each direction; undefined for loopback. */
  bitsPerSecond?: number;
  /** Round-trip time the delay proxy adds, in milliseconds. */
  rttMs: number;
  /**
   * The rate is above what this host moves through the delay proxy, so the link may measure slower
   * than the profile (never faster): its figures are of the link as measured, which the report shows.
   */
  hostBound?: boolean;
}

export const NETWORK_PROFILES = {
  loopback: { name: 'loopback', rttMs: 0 },
  rack: { name: 'rack', bitsPerSecond: 10e9, rttMs: 0.1, hostBound: true },
  datacenter: { name: 'datacenter', bitsPerSecond: 1e9, rttMs: 0.5 },
  region: { name: 'region', bitsPerSecond: 100e6, rttMs: 20 },
} as const satisfies Record<string, Omit<NetworkProfile, 'name'> & { name: string }>;

export type NetworkProfileName = keyof typeof NETWORK_PROFILES;

/**
 * `datacenter,region` → those profiles in the order given; `all` (or empty) → every profile.
 * @throws Error naming a profile that is not known.
 */
export function parseNetworkProfiles(list: string | undefined): NetworkProfile[] {
  const names = (list ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 0 || names.includes('all')) return Object.values(NETWORK_PROFILES);
  return names.map((name) => {
    if (!(name in NETWORK_PROFILES))
      throw new Error(`--network: ${name} is not one of ${Object.keys(NETWORK_PROFILES).join(', ')}`);
    return NETWORK_PROFILES[name as NetworkProfileName];
  });
}

/** `1 Gbit/s, 0.5 ms RTT`, for tables and logs. */
export function describeProfile(profile: NetworkProfile): string {
  if (profile.bitsPerSecond === undefined) return 'loopback (no link)';
  const rate =
    profile.bitsPerSecond >= 1e9
      ? `${profile.bitsPerSecond / 1e9} Gbit/s`
      : `${profile.bitsPerSecond / 1e6} Mbit/s`;
  return `${rate}, ${profile.rttMs} ms RTT`;
}
