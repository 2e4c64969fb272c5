import { randomBytes } from 'node:crypto';

/**
 * The bearer token the benchmarks send: LOCUS_DEV_TOKEN (every scope), which the locus processes they
 * start inherit and accept. When the environment has none, one is made for the run and put in
 * process.env before any process starts (BenchEnvironment's constructor calls this first).
 */
export function benchToken(): string {
  process.env.LOCUS_DEV_TOKEN ||= randomBytes(32).toString('base64url');
  return process.env.LOCUS_DEV_TOKEN;
}

/** `Authorization: Bearer <benchToken()>`, to spread into a request's headers. */
export function authHeader(): { authorization: string } {
  return { authorization: `Bearer ${benchToken()}` };
}
