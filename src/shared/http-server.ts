import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { ERROR_CODES, isLocusError, LocusError, type ErrorCode } from './errors.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from './logger.js';
import { httpDurationHistogram } from './metrics.js';
import { createValidatorCompiler, detailsFromAjv } from './validation.js';

export type HttpServer = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  Logger,
  TypeBoxTypeProvider
>;

export interface HealthCheck {
  name: string;
  /** Resolves with a short detail when healthy; throws (or rejects) when not. */
  check(): Promise<string | void>;
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
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  app.setErrorHandler((error, request, reply) => sendError(reply, error, request.log));
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      new LocusError('LOCUS_NOT_FOUND', `no route ${request.method} ${request.url}`),
      request.log,
    ),
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
    openapi: { info: { title: `locus ${options.name}`, description: options.description, version: '0.1.0' } },
  });
  await app.register(swaggerUi, { routePrefix: '/documentation' });

  const healthChecks = options.healthChecks ?? [];
  app.get('/health', { schema: { hide: true } }, async (_request, reply) => {
    const results = await Promise.all(
      healthChecks.map(async (healthCheck) => {
        const name = healthCheck.name;
        try {
          return [name, { ok: true, detail: (await healthCheck.check()) ?? 'ok' }] as const;
        } catch (error) {
          return [
            name,
            { ok: false, detail: error instanceof Error ? error.message : String(error) },
          ] as const;
        }
      }),
    );
    const healthy = results.every(([, result]) => result.ok);
    return reply.code(healthy ? 200 : 503).send({
      status: healthy ? 'ok' : 'fail',
      process: options.name,
      checks: Object.fromEntries(results) as unknown,
    });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(options.metrics.contentType).send(await options.metrics.metrics());
  });
  return app;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'LOCUS_VALIDATION',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'LOCUS_VALIDATION',
  FST_ERR_CTP_BODY_TOO_LARGE: 'LOCUS_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'LOCUS_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'LOCUS_VALIDATION',
};

/** Maps any error to the locus error body. 5xx bodies never carry internals; they are logged instead. */
export function sendError(reply: FastifyReply, error: unknown, log: FastifyBaseLogger): FastifyReply {
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
  if (isStoreUnavailable(error)) {
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
    // Name the part that failed, like schema errors do: the body, or the content-type header.
    const field = code === 'LOCUS_UNSUPPORTED_MEDIA_TYPE' ? 'headers/content-type' : 'body';
    const message = fastifyError.message ?? code;
    return new LocusError(code, message, { cause: error, details: [{ field, message }] });
  }
  return new LocusError('LOCUS_INTERNAL', 'internal error', { cause: error });
}

// Connection-level failures of a store (refused, reset, pool exhausted, server shutting down or full):
// the request did nothing and may be retried, so they are 503s, not 500s.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03', '53300']);

function isStoreUnavailable(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) ||
    (typeof message === 'string' && message.includes('timeout exceeded when trying to connect'))
  );
}
