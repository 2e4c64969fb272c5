import type { Db } from 'mongodb';
import type { Registry } from 'prom-client';
import { REVIEWS_BODY_MAX_BYTES } from '../contracts/bounds.js';
import { registerAuth, type AuthRule } from '../shared/auth.js';
import { loadApiTokens, type ApiToken } from '../shared/auth.tokens.js';
import { createHttpServer, type HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import { perMinuteOf, registerRateLimits, WRITE_METHODS } from '../shared/rate-limit.js';
import { registerReviewRoutes } from './review.routes.js';
import type { ReviewService } from './review.service.js';

/** Largest review request body: every field at its bound, however the client escapes it (bounds.ts). */
const REVIEWS_BODY_LIMIT = REVIEWS_BODY_MAX_BYTES;

/** Writes need `reviews:write`; the bulk dump (every review with its author) needs `export`. */
const REVIEWS_AUTH: readonly AuthRule[] = [
  { pathPrefix: '/export/', scope: 'export' },
  { methods: WRITE_METHODS, scope: 'reviews:write' },
];

/** Builds the reviews HTTP server with every route; the caller listens (or calls `inject`). */
export async function buildReviewsServer(deps: {
  db: Db;
  reviews: ReviewService;
  logger: Logger;
  metrics: Registry;
  /** Writes one client may send per minute (default: LOCUS_RATE_LIMIT_WRITES_PER_MINUTE's). */
  writesPerMinute?: number;
  /** The bearer tokens accepted (default: from the environment, see loadApiTokens). */
  tokens?: readonly ApiToken[];
}): Promise<HttpServer> {
  const app = await createHttpServer({
    name: 'reviews',
    description: 'Product reviews; every write records its change event in the review_events outbox',
    logger: deps.logger,
    metrics: deps.metrics,
    bodyLimit: REVIEWS_BODY_LIMIT,
    healthChecks: [
      {
        name: 'mongodb',
        check: async () => {
          await deps.db.command({ ping: 1 });
        },
      },
    ],
  });
  await registerRateLimits(app, [
    {
      methods: WRITE_METHODS,
      perMinute: deps.writesPerMinute ?? perMinuteOf('LOCUS_RATE_LIMIT_WRITES_PER_MINUTE'),
    },
  ]);
  await registerAuth(app, deps.tokens ?? loadApiTokens(), REVIEWS_AUTH);
  registerReviewRoutes(app, deps.reviews);
  return app;
}
