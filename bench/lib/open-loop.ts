import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyRecorder } from './stats.js';

export interface OpenLoopResult {
  sent: number;
  errors: number;
  latency: ReturnType<LatencyRecorder['summary']>;
  achievedRate: number;
}

/**
 * Fires `operation` at a fixed rate regardless of how fast answers come back (open loop), so a slow
 * system shows as latency instead of hiding as a lower request rate. Latency counts from the intended
 * start time (coordinated omission corrected). Bounded by `durationMs` and `maxInFlight`.
 */
export async function runOpenLoop(
  ratePerSecond: number,
  durationMs: number,
  operation: (index: number) => Promise<void>,
  options: { maxInFlight?: number; onProgress?: (sent: number) => void } = {},
): Promise<OpenLoopResult> {
  const recorder = new LatencyRecorder();
  const interval = 1000 / ratePerSecond;
  const total = Math.floor((durationMs / 1000) * ratePerSecond);
  const maxInFlight = options.maxInFlight ?? 2_000;
  const started = performance.now();
  let inFlight = 0;
  let errors = 0;
  const pending = new Set<Promise<void>>();
  // One waiter for a free slot: racing every pending promise on each wait would attach a handler to
  // each of them again and again, and grow without bound while the system is slow.
  let slotFreed: (() => void) | undefined;
  for (let i = 0; i < total; i++) {
    const intended = started + i * interval;
    const wait = intended - performance.now();
    if (wait > 1) await sleep(wait);
    while (inFlight >= maxInFlight) await new Promise<void>((resolve) => (slotFreed = resolve));
    inFlight += 1;
    // Late: count from the intended time (the wait is the system's fault). Early, by the timer's
    // granularity: count from when it was really sent.
    const countFrom = Math.min(intended, performance.now());
    const call = operation(i)
      .then(() => recorder.record(performance.now() - countFrom))
      .catch(() => {
        errors += 1;
      })
      .finally(() => {
        inFlight -= 1;
        pending.delete(call);
        slotFreed?.();
        slotFreed = undefined;
      });
    pending.add(call);
    if (i % Math.max(1, Math.floor(ratePerSecond)) === 0) options.onProgress?.(i);
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - started) / 1000;
  return { sent: total, errors, latency: recorder.summary(), achievedRate: total / elapsed };
}
