import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  linkUnavailableReason,
  NetworkLink,
  removeLeftoverLinks,
} from '../../bench/lib/network/network-link.js';
import { NETWORK_PROFILES } from '../../bench/lib/network/profiles.js';
import { assertLinkShaped, expectedSeconds } from '../../bench/lib/network/self-check.js';

const run = promisify(execFile);
const unavailable = await linkUnavailableReason();
if (unavailable) console.warn(`network-profile tests skipped: ${unavailable}`);

async function namespaces(): Promise<string> {
  return (await run('ip', ['netns', 'list'])).stdout;
}

describe.skipIf(unavailable !== undefined)('network profiles (root, ip netns, tc tbf)', () => {
  // region, not datacenter: beside the rest of the suite the delay proxy cannot carry 1 Gbit/s; the
  // benchmark checks every profile it measures the same way, run alone.
  it('given the region link, when 100 MB cross it each way, then they take its rate ±15% and a round trip its RTT', async () => {
    const link = await NetworkLink.open(NETWORK_PROFILES.region, []);
    try {
      const measured = await assertLinkShaped(link);
      const expected = expectedSeconds(NETWORK_PROFILES.region, measured.bytes);
      console.log(
        `region: RTT ${measured.rttMs.toFixed(3)} ms; 100 MB in ${measured.toServiceSeconds.toFixed(3)} s ` +
          `towards the service, ${measured.fromServiceSeconds.toFixed(3)} s from it (rate says ${expected.toFixed(3)} s)`,
      );
    } finally {
      await link.close();
    }
    // Closing removes the namespace, and with it both veth pairs.
    expect(await namespaces()).not.toContain(link.namespace);
  }, 240_000);

  it('given a link whose run is gone, when a later run starts, then its namespace is removed', async () => {
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.once('exit', resolve));
    const leftover = `locus-bench-${gone.pid}-abc123`;
    await run('ip', ['netns', 'add', leftover]);
    try {
      expect(await removeLeftoverLinks()).toContain(leftover);
      expect(await namespaces()).not.toContain(leftover);
    } finally {
      await run('ip', ['netns', 'del', leftover]).catch(() => undefined);
    }
  });
});
