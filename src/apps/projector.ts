import { LocusError } from '../shared/errors.js';

/** Not built yet: filled in by its issue. */
export function main(..._args: unknown[]): Promise<void> {
  return Promise.reject(new LocusError('LOCUS_INTERNAL', 'this command is not built yet'));
}
