import type { InjectOptions, LightMyRequestResponse } from 'fastify';

/**
 * The bearer token the tests send: the native stack's LOCUS_DEV_TOKEN (every scope), which the global
 * setup provides (generated for the run when the services came without one). Processes the tests start
 * inherit it from the environment, so they accept it.
 */
export function devToken(): string {
  const token = process.env.LOCUS_DEV_TOKEN;
  if (!token) throw new Error('LOCUS_DEV_TOKEN is not set: is the global setup running?');
  return token;
}

/** `Authorization: Bearer <token>` (the dev token by default), to spread into a request's headers. */
export function authHeaders(token: string = devToken()): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

type Injects = { inject(options: InjectOptions): Promise<LightMyRequestResponse> };

/**
 * Makes every `app.inject({...})` of a test server carry the dev token unless the request names its
 * own `authorization`, so tests about something else need not repeat the header. Tests about the
 * refusals build their servers without it. Returns `app`.
 */
export function sendingDevToken<T extends Injects>(app: T): T {
  const inject = app.inject.bind(app);
  (app as Injects).inject = (options: InjectOptions) =>
    inject({ ...options, headers: { ...authHeaders(), ...options.headers } });
  return app;
}
