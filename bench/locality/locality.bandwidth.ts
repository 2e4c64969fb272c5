import path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { writeChartSvg } from '../lib/chart.js';
import { describeProfile, type NetworkProfile } from '../lib/network/profiles.js';
import type { LinkMeasurement } from '../lib/network/self-check.js';
import { markdownTable, RESULTS_DIR } from '../lib/results.js';
import { GOALS, SPEEDUP_GOALS, type BenchResults, type Measured } from './locality.report.js';

/** One profile's run: its link, what the self-check measured on it, and the usual results. */
export interface ProfileResults {
  profile: NetworkProfile;
  linkMeasured: LinkMeasurement | undefined;
  results: BenchResults;
}

/** One query at the largest size under one profile: service-join p50 over locality p50. */
export interface SpeedUpPoint {
  profile: string;
  /** The link's rate in Mbit/s; undefined for loopback. */
  mbitPerSecond: number | undefined;
  query: string;
  rows: number;
  speedUp: number;
}

/** The speed-up of every query measured at the largest size (sizes and sweep), per profile. */
export function speedUpsByBandwidth(runs: ProfileResults[]): SpeedUpPoint[] {
  const points: SpeedUpPoint[] = [];
  for (const { profile, results } of runs) {
    const pairs = new Map<string, { locality?: Measured; serviceJoin?: Measured }>();
    const add = (m: Measured) => {
      const pair = pairs.get(m.query) ?? {};
      if (m.strategy === 'locality') pair.locality = m;
      if (m.strategy === 'service-join') pair.serviceJoin = m;
      pairs.set(m.query, pair);
    };
    results.sizes.at(-1)?.measured.forEach(add);
    for (const p of results.sweep?.points ?? []) [p.locality, p.serviceJoin].forEach(add);
    for (const [query, { locality, serviceJoin }] of pairs) {
      if (!locality || !serviceJoin) continue;
      points.push({
        profile: profile.name,
        mbitPerSecond: profile.bitsPerSecond === undefined ? undefined : profile.bitsPerSecond / 1e6,
        query,
        rows: locality.rows,
        speedUp: Math.round((serviceJoin.p50Ms / Math.max(locality.p50Ms, 0.001)) * 100) / 100,
      });
    }
  }
  return points;
}

/** The links as measured before each profile's figures: the table heading the network report. */
export function linkTable(runs: ProfileResults[]): string {
  return markdownTable(
    runs.map(({ profile, linkMeasured }) => ({
      profile: profile.name,
      link: describeProfile(profile),
      'RTT measured ms': linkMeasured ? linkMeasured.rttMs.toFixed(3) : '–',
      '100 MB to the service s': linkMeasured ? linkMeasured.toServiceSeconds.toFixed(3) : '–',
      '100 MB from the service s': linkMeasured ? linkMeasured.fromServiceSeconds.toFixed(3) : '–',
    })),
  );
}

/**
 * One line per link at the largest size: the speed-up of locality for results of at most
 * GOALS.maxResultRows rows (its range and goal), and auto's worst point of the sweep against the
 * faster side.
 */
export function goalsByLink(runs: ProfileResults[]): string {
  const points = speedUpsByBandwidth(runs);
  return markdownTable(
    runs.map(({ profile, results }) => {
      const small = points
        .filter((p) => p.profile === profile.name && p.rows <= GOALS.maxResultRows)
        .map((p) => p.speedUp);
      const goal = SPEEDUP_GOALS[profile.name];
      const worst = (results.sweep?.points ?? [])
        .map((p) => ({
          name: p.name,
          slack: p.auto.p50Ms / Math.min(p.locality.p50Ms, p.serviceJoin.p50Ms),
        }))
        .sort((a, b) => b.slack - a.slack)[0];
      const lowest = small.length > 0 ? Math.min(...small) : undefined;
      return {
        link: profile.name,
        'locality speed-up, ≤ 1,000 rows (p50)':
          lowest === undefined ? '–' : `${lowest}–${Math.max(...small)}×`,
        goal: `≥ ${goal}×`,
        met: lowest === undefined ? '–' : lowest >= goal ? 'yes' : '**no**',
        'auto / faster, worst point': worst ? `${worst.slack.toFixed(2)}× (${worst.name})` : '–',
        'auto met': worst ? (worst.slack <= GOALS.autoSlack ? 'yes' : '**no**') : '–',
      };
    }),
  );
}

/**
 * Speed-up of locality over service-join against the link's bandwidth, one line per query, log
 * scales; loopback, which has no rate, is left out of the axis and listed in the subtitle.
 */
export async function renderBandwidthChart(runs: ProfileResults[], reviews: number): Promise<string> {
  const points = speedUpsByBandwidth(runs);
  const loopback = points.filter((p) => p.mbitPerSecond === undefined);
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `Locality speed-up against link bandwidth at ${reviews.toLocaleString('en')} reviews`,
      subtitle: loopback.length
        ? `loopback: ${loopback.map((p) => `${p.query} ${p.speedUp}×`).join(', ')}`
        : 'service-join p50 / locality p50',
    },
    background: 'white',
    width: 520,
    height: 320,
    data: { values: points.filter((p) => p.mbitPerSecond !== undefined) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'mbitPerSecond', type: 'quantitative', scale: { type: 'log' }, title: 'link Mbit/s' },
      y: {
        field: 'speedUp',
        type: 'quantitative',
        scale: { type: 'log' },
        title: 'service-join p50 / locality p50',
      },
      color: { field: 'query', type: 'nominal' },
      tooltip: [{ field: 'profile' }, { field: 'query' }, { field: 'rows' }, { field: 'speedUp' }],
    },
  } as unknown as TopLevelSpec;
  const file = path.join(RESULTS_DIR, 'locality-bandwidth-latest.svg');
  await writeChartSvg(spec, file);
  return path.relative(REPO_ROOT, file);
}
