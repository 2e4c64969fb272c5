import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON logger per process, named after it. */
export function createLogger(name: string, level = process.env.LOCUS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level });
}
