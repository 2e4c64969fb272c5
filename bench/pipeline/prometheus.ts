import { round } from '../lib/stats.js';

/** Prometheus text exposition, parsed just enough for the pipeline benchmark's figures. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[label[1]!] = label[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

export const sumOf = (samples: Sample[], name: string) =>
  samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);

/** Cumulative histogram buckets by source: le → count, plus sum and count. */
export type HistogramSnapshot = Map<string, { buckets: Map<number, number>; sum: number; count: number }>;

export function histogramOf(samples: Sample[], name: string, by: string): HistogramSnapshot {
  const result: HistogramSnapshot = new Map();
  const of = (key: string) => {
    let entry = result.get(key);
    if (!entry) result.set(key, (entry = { buckets: new Map(), sum: 0, count: 0 }));
    return entry;
  };
  for (const s of samples) {
    const key = s.labels[by] ?? '';
    if (s.name === `${name}_bucket`) of(key).buckets.set(Number(s.labels.le), s.value);
    else if (s.name === `${name}_sum`) of(key).sum = s.value;
    else if (s.name === `${name}_count`) of(key).count = s.value;
  }
  return result;
}

export interface BucketSummary {
  count: number;
  meanMs: number | null;
  /** Upper bound of the bucket holding the percentile (histograms only know buckets). */
  p50AtMostMs: number | null;
  p99AtMostMs: number | null;
}

export function histogramDelta(
  before: HistogramSnapshot,
  after: HistogramSnapshot,
): Record<string, BucketSummary> {
  const result: Record<string, BucketSummary> = {};
  for (const [source, end] of after) {
    const start = before.get(source);
    const count = end.count - (start?.count ?? 0);
    const sum = end.sum - (start?.sum ?? 0);
    const bounds = [...end.buckets.keys()].sort((a, b) => a - b);
    const at = (p: number) => {
      if (count === 0) return null;
      for (const le of bounds) {
        const inBucket = (end.buckets.get(le) ?? 0) - (start?.buckets.get(le) ?? 0);
        if (inBucket >= p * count) return le === Infinity ? Infinity : le * 1000;
      }
      return null;
    };
    result[source] = {
      count,
      meanMs: count ? round((sum / count) * 1000) : null,
      p50AtMostMs: at(0.5),
      p99AtMostMs: at(0.99),
    };
  }
  return result;
}
