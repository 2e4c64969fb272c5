import type { Window } from './analytics.types.js';

/**
 * How a heavy query's procedure reads the reviews: `raw` from review_view, `rollup` from the per-day
 * rollups for the whole UTC days of the window and from review_view for the partial days at its edges
 * (procedures/analytics.sql). Both give the same answer; `auto` picks.
 */
export const ANALYTICS_PATH_CHOICES = ['auto', 'raw', 'rollup'] as const;
export type AnalyticsPathChoice = (typeof ANALYTICS_PATH_CHOICES)[number];
export type AnalyticsPath = Exclude<AnalyticsPathChoice, 'auto'>;

const DAY_MS = 86_400_000;

/** Whole UTC days inside the half-open window: from the first midnight at or after `from`. */
export function wholeUtcDays(window: Window): number {
  const first = Math.ceil(window.from.getTime() / DAY_MS);
  const last = Math.floor(window.to.getTime() / DAY_MS);
  return Math.max(0, last - first);
}

/**
 * The path a procedure takes. `auto` reads the rollups when the window holds at least one whole UTC
 * day, where they replace a day's reviews by one row per product or category; a window inside one or
 * two partial days has nothing to read from them, so it reads review_view alone.
 */
export function chooseAnalyticsPath(window: Window, choice: AnalyticsPathChoice = 'auto'): AnalyticsPath {
  if (choice !== 'auto') return choice;
  return wholeUtcDays(window) >= 1 ? 'rollup' : 'raw';
}
