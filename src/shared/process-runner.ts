import type { Logger } from './logger.js';

export interface RunningProcess {
  /** Stops taking work, finishes or abandons what is in flight safely, releases connections. */
  close(): Promise<void>;
}

/**
 * Runs a composition root until SIGINT or SIGTERM, then closes it once. A second signal, or a close
 * that outlives `graceMs`, exits at once: whatever was in flight is safe to redo (at-least-once).
 */
export async function runUntilSignal(
  name: string,
  logger: Logger,
  start: () => Promise<RunningProcess>,
  graceMs = 15_000,
): Promise<void> {
  const running = await start();
  logger.info({ process: name, pid: process.pid }, `${name} started`);
  await new Promise<void>((resolve) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) process.exit(130);
      closing = true;
      logger.info({ signal }, `${name} stopping`);
      const timer = setTimeout(() => {
        logger.error(`${name} did not stop within ${graceMs} ms; exiting`);
        process.exit(1);
      }, graceMs);
      timer.unref();
      running
        .close()
        .catch((error: unknown) => logger.error({ err: error }, `${name} failed to close cleanly`))
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
