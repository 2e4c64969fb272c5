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

  /** The export of `reviews` over the region link, the procedure's rows as wide as the bench measured. */
  const regionExport = (reviews: number, products: number) =>
    chooseStrategy({
      query: 'export',
      stats: { reviews, products, categories: 1 },
      windowFraction: 1,
      widths: { review: REVIEW_BYTES, product: PRODUCT_BYTES, result: 425 },
      link: links.region!,
    });

  it('given a tiny window on region, when routed, then locality: one round trip against three for service-join', () => {
    const decision = regionExport(50, 2);
    expect(decision.strategy).toBe('locality');
    expect(decision.reason).toMatch(/locality ~\d+ ms .* service-join ~\d+ ms .* 20 ms RTT/);
  });

  it('given the export of 10k reviews on region, when routed, then service-join: the procedure streams twice the cursor batches of wider rows', () => {
    const decision = regionExport(10_000, 200);
    expect(decision.strategy, decision.reason).toBe('service-join');
  });

  it('given a top-rated over 1M reviews on loopback, when the rollup path reads a thousandth of the rows, then locality, and its read estimate is the rollup rows', () => {
    const rollupPath = chooseStrategy({
      query: 'top-rated',
      stats,
      windowFraction: 1,
      localityRowsRead: 1_200,
      widths: { review: REVIEW_BYTES, product: PRODUCT_BYTES, result: 175 },
      link: links.loopback!,
    });
    expect(rollupPath.strategy).toBe('locality');
    expect(rollupPath.localityRowsRead).toBe(1_200);
    expect(rollupPath.rowsRead).toBe(1_000_200);
    const raw = chooseStrategy({
      query: 'top-rated',
      stats,
      windowFraction: 1,
      widths: { review: REVIEW_BYTES, product: PRODUCT_BYTES, result: 175 },
      link: links.loopback!,
    });
    expect(raw.localityRowsRead).toBe(raw.rowsRead);
    // The estimate follows the path: reading the rollups is estimated cheaper than scanning the reviews.
    const ms = (reason: string) => Number(/locality ~(\d+) ms/.exec(reason)?.[1]);
    expect(ms(rollupPath.reason)).toBeLessThan(ms(raw.reason));
  });

  it('given no widths or link, when rows are counted, then locality for a small result and service-join for the export', () => {
    expect(chooseStrategy({ query: 'rollup', stats, windowFraction: 1, groups: 10 }).strategy).toBe(
      'locality',
    );
    expect(chooseStrategy({ query: 'export', stats, windowFraction: 1 }).strategy).toBe('service-join');
  });

  it('given the 1M loopback sweep (bench/results/locality-latest.md), when each point is estimated, then both sides are within 20% of the p50 measured', () => {
    const measured = [
      { query: { groups: 1 }, result: 28, locality: 618, serviceJoin: 5566 },
      // G=1M: hash collisions merge buckets, 632k remain.
      { query: { groups: 632_312 }, result: 28, locality: 2982, serviceJoin: 8987 },
      { query: { query: 'export' as const }, result: 425, locality: 5771, serviceJoin: 8552 },
    ];
    for (const point of measured) {
      const { reason } = chooseStrategy({
        query: 'rollup',
        stats: { reviews: 1_000_000, products: 200, categories: 20 },
        windowFraction: 1,
        ...point.query,
        widths: { review: REVIEW_BYTES, product: PRODUCT_BYTES, result: point.result },
        link: links.loopback!,
      });
      const locality = Number(/locality ~(\d+) ms/.exec(reason)?.[1]);
      const serviceJoin = Number(/service-join ~(\d+) ms/.exec(reason)?.[1]);
      expect(Math.abs(locality / point.locality - 1), reason).toBeLessThan(0.2);
      expect(Math.abs(serviceJoin / point.serviceJoin - 1), reason).toBeLessThan(0.2);
    }
  });
});
