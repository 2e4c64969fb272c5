import { randomUUID } from 'node:crypto';

/** Time and identity are passed in, never read from globals, so tests can control both. */
export interface Clock {
  now(): Date;
}

export type IdGenerator = () => string;

export const systemClock: Clock = { now: () => new Date() };
export const uuidGenerator: IdGenerator = () => randomUUID();
