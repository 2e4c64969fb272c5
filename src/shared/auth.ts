import fastifyAuth from '@fastify/auth';
import bearerAuth from '@fastify/bearer-auth';
import type { FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import type { ApiToken, Scope } from './auth.tokens.js';
import { ErrorBody } from './error-body.js';
import { LocusError } from './errors.js';
import type { HttpServer } from './http-server.js';

/** Which routes need which scope: by method and/or path prefix; the first rule that covers a route wins. */
export interface AuthRule {
  /** Any method when omitted. */
  methods?: readonly string[];
  /** Any path when omitted. */
  pathPrefix?: string;
  scope: Scope;
}

/** The operator routes of the projector and the relay (dead letters, rebuild), reads included. */
export const ADMIN_AUTH: readonly AuthRule[] = [{ pathPrefix: '/admin/', scope: 'admin' }];

/** Served to anyone whatever the rules say: probes, scrapers and the docs page must work without a token. */
const OPEN_PATHS = ['/health', '/metrics', '/documentation'];

/** The OpenAPI security scheme every protected route names (declared in http-server.ts). */
export const BEARER_SCHEME = 'bearer';

type Verify = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void;

function isOpen(url: string): boolean {
  return OPEN_PATHS.some((open) => url === open || url.startsWith(`${open}/`));
}

function covers(rule: AuthRule, route: RouteOptions): boolean {
  const methods = [route.method].flat();
  return (
    (rule.methods === undefined || methods.some((method) => rule.methods!.includes(method))) &&
    (rule.pathPrefix === undefined || route.url.startsWith(rule.pathPrefix))
  );
}

/**
 * Puts each route a rule covers behind a bearer token with the rule's scope, using @fastify/bearer-auth
 * (constant-time comparison against every accepted token) composed by @fastify/auth. No or an unknown
 * token: 401 LOCUS_UNAUTHORIZED with `WWW-Authenticate: Bearer`; a known token without the scope: 403
 * LOCUS_FORBIDDEN. Both checks run in onRequest, before the body is read. The covered routes' OpenAPI
 * entries declare the bearer scheme, their 401 and 403. With no tokens every covered route answers 401,
 * and the startup log says so. Must be called before the routes are added (it marks them as they come).
 */
export async function registerAuth(
  app: HttpServer,
  tokens: readonly ApiToken[],
  rules: readonly AuthRule[],
): Promise<void> {
  // The refusals are logged here, by what was wrong and never with the header (its own log line would
  // name the plugin's error only, and pino's methods are not where it looks for them).
  await app.register(bearerAuth, {
    keys: tokens.map((t) => t.token),
    addHook: false,
    verifyErrorLogLevel: 'debug',
  });
  await app.register(fastifyAuth);
  const authenticated: Verify = (request, reply, done) =>
    app.verifyBearerAuth!(request, reply, (error) => done(error ? unauthorized(reply, request) : undefined));
  const holding = (scope: Scope): Verify => {
    const verify = app.verifyBearerAuthFactory!({
      keys: tokens.filter((t) => t.scopes.includes(scope)).map((t) => t.token),
      addHook: false,
      verifyErrorLogLevel: 'debug',
    });
    return (request, reply, done) =>
      verify(request, reply, (error) => done(error ? forbidden(reply, request, scope) : undefined));
  };
  const checks = new Map<Scope, onRequestHookHandler>();
  const checkFor = (scope: Scope): onRequestHookHandler => {
    let check = checks.get(scope);
    if (!check) {
      // @fastify/auth types its hook as a preHandler; it runs as well in onRequest, before the body is read.
      check = app.auth([authenticated, holding(scope)], {
        relation: 'and',
      }) as unknown as onRequestHookHandler;
      checks.set(scope, check);
    }
    return check;
  };

  app.addHook('onRoute', (route) => {
    if (isOpen(route.url)) return;
    const rule = rules.find((candidate) => covers(candidate, route));
    if (!rule) return;
    route.onRequest = [...[route.onRequest ?? []].flat(), checkFor(rule.scope)];
    documentSecurity(route, rule.scope);
  });
  logTokens(app, tokens, rules);
}

function unauthorized(reply: FastifyReply, request: FastifyRequest): LocusError {
  const sent = request.headers.authorization !== undefined;
  // RFC 6750 §3: a request without credentials gets the bare challenge; a bad token, invalid_token.
  void reply.header(
    'www-authenticate',
    sent ? 'Bearer realm="locus", error="invalid_token"' : 'Bearer realm="locus"',
  );
  const message = sent ? 'the bearer token is not valid here' : 'this route needs a bearer token';
  request.log.info({ method: request.method, url: request.url }, `unauthorized: ${message}`);
  return new LocusError('LOCUS_UNAUTHORIZED', message, {
    details: [{ field: 'headers/authorization', message: 'send Authorization: Bearer <token>' }],
  });
}

function forbidden(reply: FastifyReply, request: FastifyRequest, scope: Scope): LocusError {
  void reply.header('www-authenticate', `Bearer realm="locus", error="insufficient_scope", scope="${scope}"`);
  const message = `this route needs a token with the ${scope} scope`;
  request.log.info({ method: request.method, url: request.url }, `forbidden: ${message}`);
  return new LocusError('LOCUS_FORBIDDEN', message, {
    details: [{ field: 'headers/authorization', message: `missing scope ${scope}` }],
  });
}

/** Declares the scheme on the route and its 401/403 answers, in place (swagger reads the same objects). */
function documentSecurity(route: RouteOptions, scope: Scope): void {
  const schema = (route.schema ??= {}) as Record<string, unknown>;
  // OpenAPI 3.0 lists scopes only for OAuth schemes; for a bearer scheme the docs say it in words.
  schema.security = [{ [BEARER_SCHEME]: [] }];
  const needs = `Needs a bearer token with the \`${scope}\` scope.`;
  schema.description = typeof schema.description === 'string' ? `${schema.description}\n\n${needs}` : needs;
  const response = schema.response as Record<string, unknown> | undefined;
  if (response) {
    response[401] ??= ErrorBody;
    response[403] ??= ErrorBody;
  }
}

function logTokens(app: HttpServer, tokens: readonly ApiToken[], rules: readonly AuthRule[]): void {
  const scopes = [...new Set(rules.map((rule) => rule.scope))].join(', ');
  if (tokens.length === 0) {
    app.log.warn(
      `no API tokens configured (LOCUS_API_TOKENS_FILE, LOCUS_API_TOKENS, LOCUS_DEV_TOKEN): every route needing ${scopes} answers 401`,
    );
    return;
  }
  app.log.info(
    { tokens: tokens.map((t) => ({ name: t.name, scopes: t.scopes })) },
    `routes needing ${scopes} accept these API tokens`,
  );
}
