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
