import type { Registry } from 'prom-client';
import { CATALOG_BODY_MAX_BYTES } from '../contracts/bounds.js';
import { registerAuth, type AuthRule } from '../shared/auth.js';
import { loadApiTokens, type ApiToken } from '../shared/auth.tokens.js';
import { createHttpServer, type HealthCheck, type HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import { perMinuteOf, registerRateLimits, WRITE_METHODS } from '../shared/rate-limit.js';
import type { CatalogDeps } from './catalog.deps.js';
import { registerCategoryRoutes } from './category.routes.js';
import { registerExportRoutes } from './export.routes.js';
import { registerProductRoutes } from './product.routes.js';

/** Writes need `catalog:write`; the bulk dumps for other services need `export`; reads are open. */
const CATALOG_AUTH: readonly AuthRule[] = [
  { pathPrefix: '/export/', scope: 'export' },
  { methods: WRITE_METHODS, scope: 'catalog:write' },
];

/** Builds the catalog's HTTP server with every route; the caller listens (or calls `inject`). */
export async function buildCatalogServer(
  deps: CatalogDeps & {
    logger: Logger;
    metrics: Registry;
    healthChecks?: HealthCheck[];
    /** Writes one client may send per minute (default: LOCUS_RATE_LIMIT_WRITES_PER_MINUTE's). */
    writesPerMinute?: number;
    /** The bearer tokens accepted (default: from the environment, see loadApiTokens). */
    tokens?: readonly ApiToken[];
  },
): Promise<HttpServer> {
  const app = await createHttpServer({
    name: 'catalog',
    description: 'Products and categories; every write records its change event in the outbox',
    logger: deps.logger,
    metrics: deps.metrics,
    // Every field at its bound, however the client escapes it (bounds.ts).
    bodyLimit: CATALOG_BODY_MAX_BYTES,
    healthChecks: deps.healthChecks ?? [],
  });
  await registerRateLimits(app, [
    {
      methods: WRITE_METHODS,
      perMinute: deps.writesPerMinute ?? perMinuteOf('LOCUS_RATE_LIMIT_WRITES_PER_MINUTE'),
    },
  ]);
  await registerAuth(app, deps.tokens ?? loadApiTokens(), CATALOG_AUTH);
  registerProductRoutes(app, deps);
  registerCategoryRoutes(app, deps);
  registerExportRoutes(app, deps);
  return app;
}
