import type { NetworkProfile } from './profiles.js';

/** Every namespace this harness creates is named with this prefix, so leftovers can be found. */
export const NAMESPACE_PREFIX = 'locus-bench-';

/** One veth pair: an end in the root namespace and an end in the link's namespace, a /30 between. */
export interface VethPair {
  hostDevice: string;
  insideDevice: string;
  hostAddress: string;
  insideAddress: string;
}

/**
 * The commands that build a link and the one that removes it. The query service runs inside
 * `namespace`; it reaches its backends over `backend` (shaped both ways: tbf on the egress of each
 * end), and the benchmark's client reaches it over `client` (unshaped), so the answers the client
 * fetches do not compete with the rows the service reads.
 */
export interface LinkPlan {
  namespace: string;
  backend: VethPair;
  client: VethPair;
  setup: string[][];
  teardown: string[][];
}

/**
 * The link of `profile` for run `tag` (a few hex digits), in 10.203.`subnet`.0/29: private addresses
 * that exist only on these veths, so no packet can leave the machine. The owner's pid is part of the
 * namespace name: a later run removes only the links of processes that are gone.
 */
export function planLink(profile: NetworkProfile, tag: string, subnet: number, ownerPid: number): LinkPlan {
  const namespace = `${NAMESPACE_PREFIX}${ownerPid}-${tag}`;
  const pair = (kind: string, base: number): VethPair => ({
    hostDevice: `lb${tag}${kind}h`,
    insideDevice: `lb${tag}${kind}n`,
    hostAddress: `10.203.${subnet}.${base + 1}`,
    insideAddress: `10.203.${subnet}.${base + 2}`,
  });
  const backend = pair('b', 0);
  const client = pair('c', 4);
  const setup: string[][] = [['ip', 'netns', 'add', namespace]];
  const inside = (...command: string[]) => ['ip', '-n', namespace, ...command];
  setup.push(inside('link', 'set', 'lo', 'up'));
  for (const veth of [backend, client]) {
    setup.push(
      [
        'ip',
        'link',
        'add',
        veth.hostDevice,
        'type',
        'veth',
        'peer',
        'name',
        veth.insideDevice,
        'netns',
        namespace,
      ],
      ['ip', 'addr', 'add', `${veth.hostAddress}/30`, 'dev', veth.hostDevice],
      ['ip', 'link', 'set', veth.hostDevice, 'up'],
      inside('addr', 'add', `${veth.insideAddress}/30`, 'dev', veth.insideDevice),
      inside('link', 'set', veth.insideDevice, 'up'),
    );
  }
  if (profile.bitsPerSecond !== undefined) {
    const shape = tbfArguments(profile.bitsPerSecond);
    setup.push(
      ['tc', 'qdisc', 'add', 'dev', backend.hostDevice, 'root', ...shape],
      ['tc', '-n', namespace, 'qdisc', 'add', 'dev', backend.insideDevice, 'root', ...shape],
    );
  }
  // Deleting the namespace deletes the veth ends inside it, and with them their peers.
  return { namespace, backend, client, setup, teardown: [['ip', 'netns', 'del', namespace]] };
}

/**
 * tbf for `bitsPerSecond`: the bucket holds at least two 64 KB segments (veth passes GSO packets up to
 * 64 KB, and one larger than the bucket would be dropped) or one millisecond at the rate; the queue
 * holds what the rate sends in a few milliseconds, enough to keep TCP at the rate without a deep buffer.
 */
export function tbfArguments(bitsPerSecond: number): string[] {
  const bytesPerMs = bitsPerSecond / 8 / 1000;
  const burst = Math.max(128 * 1024, Math.ceil(bytesPerMs));
  const limit = Math.max(2 * burst, Math.ceil(bytesPerMs * 5));
  return ['tbf', 'rate', `${bitsPerSecond}bit`, 'burst', String(burst), 'limit', String(limit)];
}

/** `locus-bench-<pid>-<tag>` → pid, or undefined for a name this harness did not make. */
export function ownerOf(namespace: string): number | undefined {
  const match = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)-[0-9a-f]+$`).exec(namespace);
  return match ? Number(match[1]) : undefined;
}
