import { describe, expect, it } from 'vitest';
import { linkOf, linkSettingOf, throughputOf } from '../../src/query/link.estimate.js';
import { rowWidthsFor, tableWidthsOf, type ColumnStats } from '../../src/query/row-widths.js';
import { routingInputsFor, type RoutingInputs } from '../../src/query/routing.inputs.js';

const stats = (entries: Record<string, Partial<ColumnStats>>) =>
  new Map(Object.entries(entries).map(([key, value]) => [key, { avgWidth: 0, nullFraction: 0, ...value }]));

describe('row widths from pg_stats', () => {
  it('given a wider body, when widths are derived, then the review row grows by exactly that much', () => {
    const narrow = tableWidthsOf(stats({ 'review_view.body': { avgWidth: 10 } }));
    const wide = tableWidthsOf(stats({ 'review_view.body': { avgWidth: 310 } }));
    expect(wide.review - narrow.review).toBe(300);
    expect(wide.exportRow - narrow.exportRow).toBe(300);
    expect(wide.product).toBe(narrow.product);
  });

  it('given a uuid column, when widths are derived, then its text width counts, not its stored 16 bytes', () => {
    const stored = tableWidthsOf(stats({ 'review_view.id': { avgWidth: 16 } }));
    const absent = tableWidthsOf(stats({}));
    expect(stored.review).toBe(absent.review);
  });

  it('given a column that is mostly null, when widths are derived, then the nulls move no bytes', () => {
    const always = tableWidthsOf(stats({ 'product_summary.category_id': { avgWidth: 16, nullFraction: 0 } }));
    const half = tableWidthsOf(stats({ 'product_summary.category_id': { avgWidth: 16, nullFraction: 0.5 } }));
    expect(always.product - half.product).toBe(18);
  });

  it('given the export, when its widths are asked for, then a result row is a review plus its product but the id', () => {
    const widths = tableWidthsOf(stats({}));
    expect(rowWidthsFor('export', widths).result).toBe(widths.review + widths.product - 7 - 4 - 36);
    expect(rowWidthsFor('rollup', widths).result).toBeLessThan(widths.review);
  });

  it('given no statistics, when widths are derived, then it says how many columns were measured', () => {
    expect(tableWidthsOf(stats({})).measuredColumns).toBe(0);
    expect(tableWidthsOf(stats({ 'review_view.body': { avgWidth: 5 } })).measuredColumns).toBe(1);
  });
});

describe('the link', () => {
  it('given settings, when parsed, then numbers are configured and `measure` is measured; anything else fails naming the setting', () => {
    expect(linkSettingOf({ LOCUS_QUERY_LINK_RTT_MS: '0.5', LOCUS_QUERY_LINK_MBPS: 'measure' })).toEqual({
      rttMs: 0.5,
      megabitsPerSecond: 'measure',
    });
    expect(() => linkSettingOf({ LOCUS_QUERY_LINK_RTT_MS: 'fast', LOCUS_QUERY_LINK_MBPS: '1' })).toThrow(
      /LOCUS_QUERY_LINK_RTT_MS/,
    );
    expect(() => linkSettingOf({ LOCUS_QUERY_LINK_RTT_MS: '1', LOCUS_QUERY_LINK_MBPS: '0' })).toThrow(
      /LOCUS_QUERY_LINK_MBPS/,
    );
  });

  it('given a configured rate in megabits, when the link is built, then it is in bytes per second and says where it came from', () => {
    const link = linkOf({ rttMs: 20, megabitsPerSecond: 100 }, undefined);
    expect(link).toEqual({
      rttMs: 20,
      bytesPerSecond: 12_500_000,
      rttSource: 'configured',
      throughputSource: 'configured',
    });
  });

  it('given a measured half and no probe, when the link is built, then it is unknown', () => {
    expect(linkOf({ rttMs: 'measure', megabitsPerSecond: 100 }, undefined)).toBeNull();
    expect(
      linkOf({ rttMs: 'measure', megabitsPerSecond: 100 }, { rttMs: 2, bytesPerSecond: 1 }),
    ).toMatchObject({
      rttMs: 2,
      bytesPerSecond: 12_500_000,
      rttSource: 'measured',
    });
  });

  it('given a timed transfer, when its throughput is derived, then the round trip that carried the request is not counted', () => {
    expect(throughputOf(1_000_000, 100, 20)).toBe(12_500_000);
    expect(Number.isFinite(throughputOf(1_000_000, 1, 5))).toBe(true);
  });
});

describe('routing inputs for one query', () => {
  const inputs: RoutingInputs = {
    statistics: {
      rows: { products: 10, reviews: 100, categories: 2, productDays: 50, categoryDays: 20 },
      createdAt: null,
    },
    widths: tableWidthsOf(stats({ 'review_view.body': { avgWidth: 300 } })),
    link: { rttMs: 0.5, bytesPerSecond: 125e6, rttSource: 'measured', throughputSource: 'configured' },
    readAt: 0,
  };

  it('given inputs, when a query asks for them, then its widths and link come with a note of their sources', () => {
    const { widths, link, note } = routingInputsFor('export', inputs);
    expect(widths?.result).toBe(inputs.widths.exportRow);
    expect(link).toEqual({ rttMs: 0.5, bytesPerSecond: 125e6 });
    expect(note).toMatch(/pg_stats for 1\/13 columns\); RTT measured, throughput configured/);
  });

  it('given no link, when a query asks, then no widths either: the rule counts rows and says so', () => {
    expect(routingInputsFor('rollup', { ...inputs, link: null })).toEqual({
      note: 'row widths or link unknown: rows counted',
    });
    expect(routingInputsFor('rollup', undefined).widths).toBeUndefined();
  });
});
