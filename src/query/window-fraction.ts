/**
 * The distribution of one column as pg_stats keeps it, in milliseconds since the epoch: the most
 * common values with their frequencies, and the histogram of the rest (bounds of equally-filled
 * buckets, ascending).
 */
export interface ColumnHistogram {
  nullFraction: number;
  mostCommon: readonly { value: number; frequency: number }[];
  bounds: readonly number[];
}

/** The share of the histogram's rows below `at`: whole buckets, and a linear share of the one it falls in. */
function histogramShareBelow(bounds: readonly number[], at: number): number {
  const buckets = bounds.length - 1;
  if (at <= bounds[0]!) return 0;
  if (at >= bounds[buckets]!) return 1;
  for (let i = 0; i < buckets; i++) {
    const low = bounds[i]!;
    const high = bounds[i + 1]!;
    if (at < high) return (i + (high > low ? (at - low) / (high - low) : 0)) / buckets;
  }
  return 1;
}

/**
 * The fraction (0..1) of a table's rows whose column falls in the half-open window [from, to), as the
 * planner estimates a range predicate: the most common values inside it, plus the histogram's share
 * of the other non-null rows (the buckets the window covers, interpolating inside the partial ones).
 * Without a histogram the non-common rows count as all inside, which errs towards a large window.
 * @example windowFraction({nullFraction: 0, mostCommon: [], bounds: [0, 10, 20]}, {from: 5, to: 20}) → 0.75
 */
export function windowFraction(histogram: ColumnHistogram, window: { from: number; to: number }): number {
  if (!(window.to > window.from)) return 0;
  let common = 0;
  let commonInside = 0;
  for (const { value, frequency } of histogram.mostCommon) {
    common += frequency;
    if (value >= window.from && value < window.to) commonInside += frequency;
  }
  const rest = Math.max(0, 1 - histogram.nullFraction - common);
  const { bounds } = histogram;
  const share =
    bounds.length >= 2
      ? histogramShareBelow(bounds, window.to) - histogramShareBelow(bounds, window.from)
      : 1;
  return Math.min(1, Math.max(0, commonInside + rest * share));
}
