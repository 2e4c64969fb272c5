import { pino, type Logger } from 'pino';

export type { Logger };

/** Wherever a request's or an outgoing call's headers are logged, the bearer token is not. */
const REDACTED = ['req.headers.authorization', 'headers.authorization', '*.headers.authorization'];

/** One JSON logger per process, named after it. */
export function createLogger(name: string, level = process.env.LOCUS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: REDACTED });
}
