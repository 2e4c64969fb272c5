import type { Registry } from 'prom-client';
import type { Clock } from '../shared/clock.js';
import { createHttpServer, type HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import { perMinuteOf, registerRateLimits } from '../shared/rate-limit.js';
import { registerAnalyticsRoutes } from './analytics.routes.js';
import { AnalyticsService } from './analytics.service.js';
import { registerCatalogRoutes } from './catalog.routes.js';
import { Deadline } from './deadline.js';
import type { ReadStore } from './read-store.js';
import type { RequestSettings } from './request-context.js';
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
}

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
  registerCatalogRoutes(app, deps.store, deps.settings);
  const analytics = new AnalyticsService({
    store: deps.store,
    catalogApi: deps.catalogApi,
    reviewsApi: deps.reviewsApi,
    compositionEnabled: deps.compositionEnabled,
    exportStatementLimitMs: deps.settings.exportDeadlineMs,
  });
  registerAnalyticsRoutes(app, { store: deps.store, analytics, clock: deps.clock, settings: deps.settings });
  return app;
}
