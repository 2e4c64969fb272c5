import type { Logger } from './logger.js';

export interface RunningProcess {
  /** Stops taking work, finishes or abandons what is in flight safely, releases connections. */
  close(): Promise<void>;
}

/**
 * Runs a composition root until SIGINT or SIGTERM, then closes it once. The handlers are set before
 * `start` runs, so a stop asked for while the process is still starting (a rolling restart, an
 * orchestrator giving up on a slow boot) waits for the start and then closes it, instead of Node's
 * default of dying on the spot. A second signal, or a stop that outlives `graceMs` from the first
 * signal (a start or a close that hangs), exits at once: whatever was in flight is safe to redo
 * (at-least-once).
 */
export async function runUntilSignal(
  name: string,
  logger: Logger,
  start: () => Promise<RunningProcess>,
  graceMs = 15_000,
): Promise<void> {
  let stop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (stop = resolve));
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (timer) process.exit(130);
    logger.info({ signal }, `${name} stopping`);
    timer = setTimeout(() => {
      logger.error(`${name} did not stop within ${graceMs} ms; exiting`);
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const running = await start();
    logger.info({ process: name, pid: process.pid }, `${name} started`);
    await stopRequested;
    await running
      .close()
      .catch((error: unknown) => logger.error({ err: error }, `${name} failed to close cleanly`));
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
