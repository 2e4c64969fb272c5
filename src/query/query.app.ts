import type { Registry } from 'prom-client';
import type { Clock } from '../shared/clock.js';
import { registerAuth, type AuthRule } from '../shared/auth.js';
import { loadApiTokens, type ApiToken } from '../shared/auth.tokens.js';
import { LocusError } from '../shared/errors.js';
import { createHttpServer, type HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import { perMinuteOf, registerRateLimits } from '../shared/rate-limit.js';
import { registerAnalyticsRoutes } from './analytics.routes.js';
import { AnalyticsService } from './analytics.service.js';
import { registerCatalogRoutes } from './catalog.routes.js';
import { Deadline } from './deadline.js';
import type { LinkSetting } from './link.estimate.js';
import type { ReadStore } from './read-store.js';
import type { RequestSettings } from './request-context.js';
import { RoutingInputsSource } from './routing.inputs.js';
import type { ExportApi } from './upstream.client.js';

export interface QueryAppDeps {
  store: ReadStore;
  catalogApi: ExportApi;
  reviewsApi: ExportApi;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  settings: RequestSettings;
  /** Whether `strategy=composition` is served (LOCUS_QUERY_COMPOSITION=on). */
  compositionEnabled: boolean;
  /** `/analytics/*` requests one client may send per minute (default: the setting's default). */
  heavyPerMinute?: number;
  /** The link to the replica as `auto` weighs it (default: both halves measured). */
  link?: LinkSetting;
  /** How often row widths and the link are read again (default ROUTING_REFRESH_MS). */
  routingRefreshMs?: number;
  /** The bearer tokens accepted (default: from the environment, see loadApiTokens). */
  tokens?: readonly ApiToken[];
  /** Whether every read needs a token with the `read` scope (LOCUS_QUERY_READS=token); default open. */
  readsNeedToken?: boolean;
}

/**
 * Whether the reads need a token: LOCUS_QUERY_READS is `open` or `token`.
 * @throws LocusError LOCUS_CONFIG_INVALID for any other value.
 */
export function readsNeedTokenOf(config: Readonly<{ LOCUS_QUERY_READS: string }>): boolean {
  const value = config.LOCUS_QUERY_READS;
  if (value !== 'open' && value !== 'token') {
    throw new LocusError('LOCUS_CONFIG_INVALID', `LOCUS_QUERY_READS must be open or token, got "${value}"`);
  }
  return value === 'token';
}

/**
 * `/analytics/export` needs `export` even when reads are open: it dumps every review with its author,
 * the same personal data as the reviews service's own `/export/reviews`, and is the heaviest route.
 */
function queryAuthRules(readsNeedToken: boolean): AuthRule[] {
  const rules: AuthRule[] = [{ pathPrefix: '/analytics/export', scope: 'export' }];
  if (readsNeedToken) rules.push({ methods: ['GET', 'HEAD'], scope: 'read' });
  return rules;
}

/** Row widths change with the data and the link with the network: neither from one request to the next. */
const ROUTING_REFRESH_MS = 60_000;

/** How long /health waits for the replica's freshness probe. */
const HEALTH_PROBE_MS = 2_000;

/** Builds the query service's HTTP server (routes registered, not listening). */
export async function buildQueryApp(deps: QueryAppDeps): Promise<HttpServer> {
  const app = await createHttpServer({
    name: 'query',
    description:
      'Reads the materialized views (replica first, read primary as fallback for light reads) and runs heavy aggregations only on the replica.',
    logger: deps.logger,
    metrics: deps.metrics,
    healthChecks: [
      {
        name: 'replica',
        check: async () => {
          const reading = await deps.store.replicaFreshness(new Deadline(HEALTH_PROBE_MS));
          if (reading.status !== 'streaming') throw new Error(`${reading.status}: ${reading.unknownBecause}`);
          return reading.lagMs === null
            ? `lag unknown: ${reading.unknownBecause}`
            : `lag ${Math.round(reading.lagMs)} ms`;
        },
      },
      { name: 'primary', check: async () => void (await deps.store.primary.query('SELECT 1')) },
    ],
  });
  await registerRateLimits(app, [
    {
      methods: ['GET'],
      pathPrefix: '/analytics/',
      perMinute: deps.heavyPerMinute ?? perMinuteOf('LOCUS_RATE_LIMIT_HEAVY_PER_MINUTE'),
    },
  ]);
  await registerAuth(app, deps.tokens ?? loadApiTokens(), queryAuthRules(deps.readsNeedToken ?? false));
  registerCatalogRoutes(app, deps.store, deps.settings);
  const analytics = new AnalyticsService({
    store: deps.store,
    catalogApi: deps.catalogApi,
    reviewsApi: deps.reviewsApi,
    compositionEnabled: deps.compositionEnabled,
    exportStatementLimitMs: deps.settings.exportDeadlineMs,
    inputs: new RoutingInputsSource({
      store: deps.store,
      link: deps.link ?? { rttMs: 'measure', megabitsPerSecond: 'measure' },
      refreshMs: deps.routingRefreshMs ?? ROUTING_REFRESH_MS,
      logger: deps.logger,
    }),
    logger: deps.logger,
  });
  registerAnalyticsRoutes(app, { store: deps.store, analytics, clock: deps.clock, settings: deps.settings });
  return app;
}
