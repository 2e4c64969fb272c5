import { describe, expect, it } from 'vitest';
import { chooseStrategy, type LinkEstimate, type RoutingInput } from '../../src/query/strategy.router.js';

// One million reviews in the window, as in the ratio sweep; widths as the sweep measured them per row.
const stats = { reviews: 1_000_000, products: 200, categories: 20 };
const REVIEW_BYTES = 330;
const PRODUCT_BYTES = 200;
const links: Record<string, LinkEstimate> = {
  loopback: { rttMs: 0.05, bytesPerSecond: 2e9 },
  datacenter: { rttMs: 0.5, bytesPerSecond: 125e6 },
  region: { rttMs: 20, bytesPerSecond: 12.5e6 },
};

function routed(query: Partial<RoutingInput>, resultBytes: number, link: LinkEstimate): string {
  return chooseStrategy({
    query: 'rollup',
    stats,
    windowFraction: 1,
    ...query,
    widths: { review: REVIEW_BYTES, product: PRODUCT_BYTES, result: resultBytes },
    link,
  }).strategy;
}

describe('auto weighs bytes and the link', () => {
  it('given a rollup into 632k groups on loopback, when routed, then locality (rows alone said service-join)', () => {
    expect(chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: 1_000_000 }).strategy).toBe(
      'service-join',
    );
    expect(routed({ groups: 1_000_000 }, 28, links.loopback!)).toBe('locality');
  });

  it('given the export, when routed, then locality on loopback and datacenter, service-join on region', () => {
    // A procedure row of the export is wider than the raw review: on a slow link those bytes decide.
    expect(routed({ query: 'export' }, 425, links.loopback!)).toBe('locality');
    expect(routed({ query: 'export' }, 425, links.datacenter!)).toBe('locality');
    expect(routed({ query: 'export' }, 425, links.region!)).toBe('service-join');
  });

  it('given a one-row rollup, when routed on any link, then locality', () => {
    for (const link of Object.values(links)) expect(routed({ groups: 1 }, 28, link)).toBe('locality');
  });

  it('given a tiny window on region, when routed, then locality: one round trip against three for service-join', () => {
    const decision = chooseStrategy({
      query: 'export',
      stats: { reviews: 50, products: 2, categories: 1 },
      windowFraction: 1,
      widths: { review: REVIEW_BYTES, product: PRODUCT_BYTES, result: 425 },
      link: links.region!,
    });
    expect(decision.strategy).toBe('locality');
    expect(decision.reason).toMatch(/locality ~\d+ ms .* service-join ~\d+ ms .* 20 ms RTT/);
  });
});
