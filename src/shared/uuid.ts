import { UUID_PATTERN } from '../contracts/bounds.js';

const UUID = new RegExp(`^${UUID_PATTERN}$`);

/**
 * Whether `text` is a UUID in its canonical 8-4-4-4-12 form, as PostgreSQL's uuid type prints it: a
 * value that passes can be bound to a uuid column without an "invalid input syntax" error.
 */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}
