import { describe, expect, it } from 'vitest';
import { ownerOf, planLink, tbfArguments } from '../../bench/lib/network/link.plan.js';
import { NETWORK_PROFILES, parseNetworkProfiles } from '../../bench/lib/network/profiles.js';
import { judgeLink } from '../../bench/lib/network/self-check.js';

describe('network profiles', () => {
  it('given no list, when parsed, then every profile is measured, loopback first', () => {
    expect(parseNetworkProfiles(undefined).map((p) => p.name)).toEqual([
      'loopback',
      'rack',
      'datacenter',
      'region',
    ]);
    expect(parseNetworkProfiles('datacenter, region').map((p) => p.name)).toEqual(['datacenter', 'region']);
    expect(() => parseNetworkProfiles('moon')).toThrow(/moon is not one of/);
  });

  it('given datacenter, when planned, then both veth ends are shaped and only the namespace is removed', () => {
    const plan = planLink(NETWORK_PROFILES.datacenter, 'abc123', 7, 4242);
    expect(plan.namespace).toBe('locus-bench-4242-abc123');
    expect(ownerOf(plan.namespace)).toBe(4242);
    expect(ownerOf('someone-else')).toBeUndefined();
    expect(plan.backend).toMatchObject({ hostAddress: '10.203.7.1', insideAddress: '10.203.7.2' });
    expect(plan.client).toMatchObject({ hostAddress: '10.203.7.5', insideAddress: '10.203.7.6' });
    const shaped = plan.setup.filter((command) => command.includes('tbf'));
    expect(shaped.map((command) => command.find((word) => word.startsWith('lb')))).toEqual([
      plan.backend.hostDevice,
      plan.backend.insideDevice,
    ]);
    expect(
      plan.setup.some((command) => command.includes(plan.client.hostDevice) && command.includes('tbf')),
    ).toBe(false);
    expect(plan.teardown).toEqual([['ip', 'netns', 'del', plan.namespace]]);
    for (const veth of [plan.backend, plan.client])
      for (const device of [veth.hostDevice, veth.insideDevice])
        expect(device.length).toBeLessThanOrEqual(15);
  });

  it('given a rate, when shaped, then the bucket holds two GSO segments and the queue a few ms', () => {
    expect(tbfArguments(1e9)).toEqual(['tbf', 'rate', '1000000000bit', 'burst', '131072', 'limit', '625000']);
    expect(tbfArguments(10e9)).toEqual([
      'tbf',
      'rate',
      '10000000000bit',
      'burst',
      '1250000',
      'limit',
      '6250000',
    ]);
  });

  it('given measurements, when judged, then a transfer ±15% off its rate or an RTT off its profile fails', () => {
    const bytes = 100 * 1024 * 1024;
    const onRate = (bytes * 8) / 1e9;
    const good = { rttMs: 0.6, toServiceSeconds: onRate * 1.1, fromServiceSeconds: onRate, bytes };
    expect(judgeLink(NETWORK_PROFILES.datacenter, good)).toEqual([]);
    expect(judgeLink(NETWORK_PROFILES.datacenter, { ...good, toServiceSeconds: onRate / 2 })).toHaveLength(1);
    expect(judgeLink(NETWORK_PROFILES.datacenter, { ...good, rttMs: 0.05 })).toHaveLength(1);
    expect(judgeLink(NETWORK_PROFILES.datacenter, { ...good, rttMs: 2 })).toHaveLength(1);
    expect(
      judgeLink(NETWORK_PROFILES.region, { ...good, rttMs: 20.5, toServiceSeconds: onRate }),
    ).toHaveLength(2);
  });

  it('given a host-bound profile, when its link measures slower than its rate, then that passes; faster still fails', () => {
    const bytes = 100 * 1024 * 1024;
    const onRate = (bytes * 8) / 10e9;
    const slower = { rttMs: 0.12, toServiceSeconds: onRate * 1.6, fromServiceSeconds: onRate * 2.4, bytes };
    expect(judgeLink(NETWORK_PROFILES.rack, slower)).toEqual([]);
    expect(judgeLink(NETWORK_PROFILES.rack, { ...slower, toServiceSeconds: onRate / 2 })).toHaveLength(1);
    expect(judgeLink(NETWORK_PROFILES.rack, { ...slower, rttMs: 1 })).toHaveLength(1);
  });
});
