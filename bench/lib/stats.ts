import * as hdr from 'hdr-histogram-js';

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Latencies in milliseconds, kept with microsecond resolution. */
export class LatencyRecorder {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });

  record(ms: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  summary(): LatencySummary {
    const at = (p: number) => this.histogram.getValueAtPercentile(p) / 1000;
    return {
      count: this.histogram.totalCount,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      max: this.histogram.maxValue / 1000,
      mean: this.histogram.mean / 1000,
    };
  }
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
