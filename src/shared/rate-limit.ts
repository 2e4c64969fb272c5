import rateLimit from '@fastify/rate-limit';
import type { RouteOptions } from 'fastify';
import { loadConfig, positiveOf } from './config.js';
import { LocusError } from './errors.js';
import type { HttpServer } from './http-server.js';

/** Which routes one limit covers: by method, and optionally by path prefix. */
export interface RateLimitRule {
  methods: readonly string[];
  pathPrefix?: string;
  /** Requests one client (by IP address) may send to the covered routes per minute. */
  perMinute: number;
}

/** The methods that change state on the write services. */
export const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;

const MINUTE_MS = 60_000;

function covers(rule: RateLimitRule, route: RouteOptions): boolean {
  const methods = [route.method].flat();
  return (
    methods.some((method) => rule.methods.includes(method)) &&
    (rule.pathPrefix === undefined || route.url.startsWith(rule.pathPrefix))
  );
}

/**
 * Limits each client, keyed by IP address, to `perMinute` requests per route covered by a rule
 * (@fastify/rate-limit, in-process counters). Past the limit the answer is 429 LOCUS_RATE_LIMITED with
 * `Retry-After` and the usual error body; each covered route's OpenAPI document declares that 429.
 * Must be called before the routes are added: it marks them as they are registered.
 */
export async function registerRateLimits(app: HttpServer, rules: readonly RateLimitRule[]): Promise<void> {
  app.addHook('onRoute', (route) => {
    const rule = rules.find((candidate) => covers(candidate, route));
    if (!rule) return;
    route.config = { ...route.config, rateLimit: { max: rule.perMinute, timeWindow: MINUTE_MS } };
    const response = route.schema?.response as Record<string, unknown> | undefined;
    // The 429 body is the route's own error body: every covered route declares its 400.
    if (response && response[400] !== undefined) response[429] ??= response[400];
  });
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new LocusError(
        'LOCUS_RATE_LIMITED',
        `more than ${context.max} requests per minute from this client; retry in ${context.after}`,
        { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) },
      ),
  });
}

/**
 * Per-minute limit from a setting: the environment's value, or the setting's default when `config`
 * is omitted (servers built by tests get the defaults).
 * @throws LocusError LOCUS_CONFIG_INVALID when the setting is not a positive integer.
 */
export function perMinuteOf(
  name: 'LOCUS_RATE_LIMIT_WRITES_PER_MINUTE' | 'LOCUS_RATE_LIMIT_HEAVY_PER_MINUTE',
  config: Readonly<Record<string, string>> = loadConfig([name], {}),
): number {
  return positiveOf(config, name);
}
