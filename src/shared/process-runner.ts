import { trackSockets } from './open-sockets.js';
import { loadConfig, positiveOf } from './config.js';
import type { Logger } from './logger.js';

/** How long sockets a close left ending may take to end by themselves before they are destroyed. */
const SOCKET_SETTLE_MS = 200;

export interface RunningProcess {
  /**
   * Stops taking work, finishes or abandons what is in flight safely, releases connections. Given
   * `drainMs`, work in flight may take that long to finish and is then abandoned (it is safe to
   * redo), so that the whole stop fits in the grace period; without it, it is waited for.
   */
  close(drainMs?: number): Promise<void>;
}

/** The grace period of every locus process, from LOCUS_SHUTDOWN_GRACE_MS. */
export function shutdownGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  return positiveOf(loadConfig(['LOCUS_SHUTDOWN_GRACE_MS'], env), 'LOCUS_SHUTDOWN_GRACE_MS');
}

/**
 * Runs a composition root until SIGINT or SIGTERM, then closes it once. The handlers are set before
 * `start` runs, so a stop asked for while the process is still starting (a rolling restart, an
 * orchestrator giving up on a slow boot) waits for the start and then closes it, instead of Node's
 * default of dying on the spot. A second signal exits at once (130). The process is gone `graceMs`
 * after the first signal whatever happens: a start or a close that hangs, or a connection, timer or
 * client that a close left open and that would keep Node's event loop alive for ever, ends in exit 1
 * naming what was still open. Sockets still open once the close returned are destroyed (see
 * trackSockets). Whatever was in flight is safe to redo (at-least-once).
 */
export async function runUntilSignal(
  name: string,
  logger: Logger,
  start: () => Promise<RunningProcess>,
  graceMs = shutdownGraceMs(),
): Promise<void> {
  let stop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (stop = resolve));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal, graceMs }, `${name} stopping`);
    // Not cleared once the close returns: unref'd, it ends only a process that something still holds.
    setTimeout(() => {
      logger.error({ open: openResources() }, `${name} did not stop within ${graceMs} ms; exiting`);
      process.exit(1);
    }, graceMs).unref();
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const sockets = trackSockets();
  try {
    const running = await start();
    logger.info({ process: name, pid: process.pid }, `${name} started`);
    await stopRequested;
    await running.close(graceMs / 2).catch((error: unknown) => {
      logger.error({ err: error }, `${name} failed to close cleanly`);
      process.exitCode = 1;
    });
    const destroyed = await sockets.closeRemaining(SOCKET_SETTLE_MS);
    if (destroyed.length > 0)
      logger.warn({ peers: destroyed }, `${name} destroyed sockets its close left open`);
    logger.info({ open: openResources() }, `${name} stopped`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** What still keeps the event loop alive (sockets, timers): named in the logs when a stop lingers. */
function openResources(): string[] {
  return process.getActiveResourcesInfo().filter((resource) => resource !== 'TTYWrap');
}
