import { Presets, SingleBar } from 'cli-progress';

/**
 * A progress bar for a long step (cli-progress). Without a terminal it prints a line every few seconds
 * instead of redrawing, so a run logged to a file still shows where it is.
 */
export function progressBar(format: string): SingleBar {
  return new SingleBar(
    { format: ` ${format}`, noTTYOutput: true, notTTYSchedule: 3000 },
    Presets.shades_classic,
  );
}

/** A bar counting items towards `total` with their rate per second since it started. */
export interface RateBar {
  /** Counts `items` more as done. */
  advance(items: number): void;
  /** Items done per second so far. */
  perSecond(): number;
  stop(): void;
}

/** A progress bar whose format shows `{rate}`: the items done per second since it started. */
export function rateBar(format: string, total: number): RateBar {
  const bar = progressBar(format);
  const started = performance.now();
  let done = 0;
  const perSecond = () => done / Math.max((performance.now() - started) / 1000, 0.001);
  bar.start(total, 0, { rate: 0 });
  return {
    advance(items) {
      done += items;
      bar.update(done, { rate: Math.round(perSecond()) });
    },
    perSecond,
    stop: () => bar.stop(),
  };
}
