import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Router from 'find-my-way';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { BEARER_SCHEME } from './auth.js';
import { ERROR_CODES, isLocusError, LocusError, type ErrorCode } from './errors.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from './logger.js';
import { httpDurationHistogram } from './metrics.js';
import { isStoreOutage } from './store-outage.js';
import { createValidatorCompiler, detailsFromAjv } from './validation.js';
import { defaultedParametersOptional } from './openapi-defaults.js';

export type HttpServer = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

export interface HealthCheck {
  name: string;
  /**
   * Resolves with a short detail when healthy, or with `degraded(detail)` when the process works but
   * an operator should act (e.g. dead letters parked); throws (or rejects) when not healthy.
   */
  check(): Promise<string | void | Degraded>;
}

export interface Degraded {
  degraded: string;
}

/** What a health check resolves with when it works but wants an operator: /health stays 200. */
export function degraded(detail: string): Degraded {
  return { degraded: detail };
}

type CheckResult = { ok: boolean; status: 'ok' | 'degraded' | 'fail'; detail: string };

async function runCheck(healthCheck: HealthCheck): Promise<CheckResult> {
  try {
    const outcome = await healthCheck.check();
    if (typeof outcome === 'object') return { ok: true, status: 'degraded', detail: outcome.degraded };
    return { ok: true, status: 'ok', detail: outcome ?? 'ok' };
  } catch (error) {
    return { ok: false, status: 'fail', detail: error instanceof Error ? error.message : String(error) };
  }
}

export interface HttpServerOptions {
  name: string;
  description: string;
  logger: Logger;
  metrics: Registry;
  healthChecks?: HealthCheck[];
  /** Largest accepted request body, in bytes; larger ones get 413. */
  bodyLimit?: number;
}

/**
 * Builds a Fastify server with what every locus process serves: `GET /health`, `GET /metrics`
 * (Prometheus text), the OpenAPI document at `/documentation/json` with a docs page at
 * `/documentation`, strict TypeBox validation, and error bodies of the form `{code, message, details}`.
 * Routes are added by the caller after this resolves; `listen` is the caller's.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const app = Fastify({
    loggerInstance: options.logger,
    // Per-request log lines would dominate the logs; the duration histogram below covers requests.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    // A URL Fastify cannot decode (`%ZZ`) gets the locus error body too.
    frameworkErrors: (error, request, reply) => {
      sendError(reply, error, request.log);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  app.setErrorHandler((error, request, reply) => sendError(reply, error, request.log));
  const routes = new RouteMethods();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method));
  // Answered before Fastify parses a body for its not-found route: a body method without a
  // Content-Type (`QUERY`) would otherwise fail there with a 500 instead of the 405 or 404 it is.
  app.addHook('onRequest', async (request, reply) => {
    if (request.is404) return unrouted(reply, request.method, request.url, routes, request.log);
  });
  app.setNotFoundHandler((request, reply) =>
    unrouted(reply, request.method, request.url, routes, request.log),
  );

  const duration = httpDurationHistogram(options.metrics);
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(swagger, {
    openapi: {
      info: { title: `locus ${options.name}`, description: options.description, version: '0.1.0' },
      // Routes behind a token name this scheme (auth.ts), so the docs page's "Authorize" sends it.
      components: { securitySchemes: { [BEARER_SCHEME]: { type: 'http', scheme: 'bearer' } } },
    },
    transformObject: (documents) =>
      'openapiObject' in documents
        ? defaultedParametersOptional(documents.openapiObject)
        : documents.swaggerObject,
  });
  await app.register(swaggerUi, { routePrefix: '/documentation' });

  const healthChecks = options.healthChecks ?? [];
  // 503 only when a check fails; a degraded check keeps 200 (the process serves) but says so on top.
  app.get('/health', { schema: { hide: true } }, async (_request, reply) => {
    const results = await Promise.all(
      healthChecks.map(async (healthCheck) => [healthCheck.name, await runCheck(healthCheck)] as const),
    );
    const statuses = new Set(results.map(([, result]) => result.status));
    const status = statuses.has('fail') ? 'fail' : statuses.has('degraded') ? 'degraded' : 'ok';
    return reply.code(status === 'fail' ? 503 : 200).send({
      status,
      process: options.name,
      checks: Object.fromEntries(results) as unknown,
    });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(options.metrics.contentType).send(await options.metrics.metrics());
  });
  return app;
}

/**
 * The methods each route pattern answers, so a request to a known path with another method gets 405
 * with `Allow` (RFC 9110) rather than 404. Paths are matched by find-my-way, the router Fastify
 * itself routes with, so every pattern means here what it means there (`::` a literal colon, as in
 * `/reviews::batch`; `:name` a parameter; `*` the rest).
 */
class RouteMethods {
  private readonly router = Router();
  private readonly methods = new Set<Router.HTTPMethod>();

  add(url: string, method: string | string[]): void {
    for (const one of [method].flat() as Router.HTTPMethod[]) {
      if (this.router.hasRoute(one, url)) continue;
      this.router.on(one, url, () => undefined);
      this.methods.add(one);
    }
  }

  /** The methods some route answers at `url` (its query string ignored), sorted; empty for none. */
  allowedAt(url: string): string[] {
    return [...this.methods].filter((method) => this.router.find(method, url) !== null).sort();
  }
}

function unrouted(
  reply: FastifyReply,
  method: string,
  url: string,
  routes: RouteMethods,
  log: FastifyBaseLogger,
): FastifyReply {
  const allowed = routes.allowedAt(url);
  if (allowed.length === 0) {
    return sendError(reply, new LocusError('LOCUS_NOT_FOUND', `no route ${method} ${url}`), log);
  }
  void reply.header('allow', allowed.join(', '));
  const message = `${method} is not allowed here; allowed: ${allowed.join(', ')}`;
  return sendError(
    reply,
    new LocusError('LOCUS_METHOD_NOT_ALLOWED', message, { details: [{ field: 'method', message }] }),
    log,
  );
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'LOCUS_VALIDATION',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'LOCUS_VALIDATION',
  FST_ERR_CTP_BODY_TOO_LARGE: 'LOCUS_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'LOCUS_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'LOCUS_VALIDATION',
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: 'LOCUS_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_BAD_URL: 'LOCUS_VALIDATION',
};

/** Maps any error to the locus error body. 5xx bodies never carry internals; they are logged instead. */
function sendError(reply: FastifyReply, error: unknown, log: FastifyBaseLogger): FastifyReply {
  const locusError = toLocusError(error);
  const status = locusError.httpStatus;
  if (status >= 500) log.error({ err: error, code: locusError.code }, 'request failed');
  if (locusError.retryAfterSeconds !== undefined)
    reply.header('retry-after', String(locusError.retryAfterSeconds));
  const internal = status >= 500 && ERROR_CODES[locusError.code] === 500;
  return reply.code(status).send({
    code: locusError.code,
    message: internal ? 'internal error' : locusError.message,
    details: internal ? [] : locusError.details,
  });
}

function toLocusError(error: unknown): LocusError {
  if (isLocusError(error)) return error;
  const fastifyError = error as Partial<FastifyError> & { validationContext?: string };
  if (fastifyError.validation) {
    const details = detailsFromAjv(fastifyError.validation, fastifyError.validationContext ?? '');
    const first = details[0];
    const message = first ? `${first.field}: ${first.message}` : 'invalid request';
    const unknownField = fastifyError.validation.some((e) => e.keyword === 'additionalProperties');
    return new LocusError(unknownField ? 'LOCUS_UNKNOWN_FIELD' : 'LOCUS_VALIDATION', message, { details });
  }
  // A store's outage, not the request's fault: retrying shortly may succeed, so a 503, not a 500.
  if (isStoreOutage(error)) {
    return new LocusError(
      'LOCUS_BACKEND_UNAVAILABLE',
      'the store is unavailable or overloaded; retry shortly',
      {
        cause: error,
        retryAfterSeconds: 1,
      },
    );
  }
  const code = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (code) {
    // Name the part that failed, like schema errors do: the URL, the content-type header, or the body.
    const field =
      fastifyError.code === 'FST_ERR_BAD_URL'
        ? 'url'
        : code === 'LOCUS_UNSUPPORTED_MEDIA_TYPE'
          ? 'headers/content-type'
          : 'body';
    const message = fastifyError.message ?? code;
    return new LocusError(code, message, { cause: error, details: [{ field, message }] });
  }
  return new LocusError('LOCUS_INTERNAL', 'internal error', { cause: error });
}

/**
 * Closes `app` for a stopping process: new connections are refused and idle keep-alive ones closed at
 * once; requests in flight get `drainMs` to finish. Then every connection still open is dropped (a
 * client that sent half a request, a slow reader), which Fastify's close would otherwise wait on for
 * as long as that client likes. Without `drainMs`, it waits for them.
 */
export async function closeHttpServer(app: HttpServer, drainMs?: number): Promise<void> {
  if (drainMs === undefined) return app.close();
  const drained = setTimeout(() => app.server.closeAllConnections(), drainMs);
  try {
    await app.close();
  } finally {
    clearTimeout(drained);
  }
}
