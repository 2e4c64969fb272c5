import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { Clock } from '../shared/clock.js';
import { ErrorBody } from '../shared/error-body.js';
import { LocusError } from '../shared/errors.js';
import type { HttpServer } from '../shared/http-server.js';
import type { AnalyticsService, Routed } from './analytics.service.js';
import type { Deadline } from './deadline.js';
import { notFound } from './not-found.js';
import { jsonArrayChunks, ndjsonChunks } from './streamed-body.js';
import {
  CategoryReportBody,
  CategoryReportQuery,
  errorResponses,
  ExportQuery,
  RatingTrendBody,
  RatingTrendQuery,
  RollupBody,
  RollupQuery,
  TopRatedBody,
  TopRatedQuery,
} from './query.schemas.js';
import type { ReadStore } from './read-store.js';
import { beginRequest, setReadHeaders, windowOf, type RequestSettings } from './request-context.js';

/** Every analytics route takes `strategy`, which answers 403 when it names a switched-off strategy. */
const analyticsErrors = { ...errorResponses, 403: ErrorBody };

export interface AnalyticsRouteDeps {
  store: ReadStore;
  analytics: AnalyticsService;
  clock: Clock;
  settings: RequestSettings;
}

function setStrategyHeaders(reply: FastifyReply, store: ReadStore, routed: Routed<unknown>): void {
  reply.header('locus-strategy', routed.strategy);
  if (routed.decision) reply.header('locus-routing', routed.decision.reason);
  if (routed.path) reply.header('locus-path', routed.path);
  if (routed.strategy === 'composition') {
    reply.header('locus-backend', 'composition');
  } else {
    setReadHeaders(reply, store, 'replica');
  }
}

/** The view that holds the rows a filter may name. */
const FILTER_TABLES = { category: 'category_view', product: 'product_summary' } as const;

/**
 * Checks a category or product filter names a row the read store knows, on a replica fit for heavy
 * queries (heavy requests never touch the primary's data).
 * @throws LocusError LOCUS_CATEGORY_NOT_FOUND / LOCUS_PRODUCT_NOT_FOUND naming the filter's field.
 */
async function requireKnown(
  store: ReadStore,
  deadline: Deadline,
  kind: keyof typeof FILTER_TABLES,
  id: string | undefined,
): Promise<void> {
  if (id === undefined) return;
  const found = await store.inFreshSnapshot(deadline, `${kind} lookup`, async (db) => {
    const { rowCount } = await db.query(`SELECT 1 FROM ${FILTER_TABLES[kind]} WHERE id = $1`, [id]);
    return rowCount !== 0;
  });
  if (!found) throw notFound(kind, id, `querystring/${kind}Id`);
}

/**
 * `answer` once the filter checks pass. Both run at once rather than one after the other: over a slow
 * link the checks would otherwise add their round trips to every filtered request. A failed check
 * still decides the response (a 404 or a refusal before the answer's own error), as it did when it
 * ran first; the heavy query spent on an unknown filter matches no rows.
 */
async function afterChecks<T>(checks: Promise<unknown>[], answer: Promise<T>): Promise<T> {
  const [checked, answered] = await Promise.allSettled([Promise.all(checks), answer]);
  if (checked.status === 'rejected') throw checked.reason;
  if (answered.status === 'rejected') throw answered.reason;
  return answered.value;
}

/**
 * The heavy endpoints. Each takes `strategy=auto|locality|service-join|composition`; all strategies
 * answer identically. Locality and service-join read only the replica and answer 503 at once when it
 * is down, lagging or its breaker is open — never from the primary.
 */
export function registerAnalyticsRoutes(app: HttpServer, deps: AnalyticsRouteDeps): void {
  const { clock, settings } = deps;
  const window = (query: { from?: string; to?: string }) => {
    const { from, to } = windowOf(query, clock, settings);
    return { from, to, echo: { from: from.toISOString(), to: to.toISOString() } };
  };
  const context: RouteContext = { ...deps, window };
  for (const register of [
    registerTopRated,
    registerRatingTrend,
    registerCategoryReport,
    registerRollup,
    registerExport,
  ])
    register(app, context);
}

/** What every analytics route uses: the deps and the request window (with its echo in the answer). */
interface RouteContext extends AnalyticsRouteDeps {
  window: (query: { from?: string; to?: string }) => {
    from: Date;
    to: Date;
    echo: { from: string; to: string };
  };
}

function registerTopRated(app: HttpServer, { store, analytics, settings, window }: RouteContext): void {
  app.get(
    '/analytics/top-rated',
    {
      schema: {
        summary: 'Top-rated products per category (Bayesian average) over a window',
        querystring: TopRatedQuery,
        response: { 200: TopRatedBody, ...analyticsErrors },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const { from, to, echo } = window(query);
      const { deadline } = await beginRequest(request, store, settings, { heavy: true });
      const routed = await afterChecks(
        [requireKnown(store, deadline, 'category', query.categoryId)],
        analytics.topRated(query.strategy, deadline, {
          categoryId: query.categoryId ?? null,
          from,
          to,
          minReviews: query.minReviews,
          limit: query.limit,
          priorWeight: query.priorWeight,
          path: query.path,
        }),
      );
      setStrategyHeaders(reply, store, routed);
      return { window: echo, categories: routed.value };
    },
  );
}

function registerRatingTrend(app: HttpServer, { store, analytics, settings, window }: RouteContext): void {
  app.get(
    '/analytics/rating-trend',
    {
      schema: {
        summary: 'Rating trend of a product, a category or the catalog, per day, week or month',
        querystring: RatingTrendQuery,
        response: { 200: RatingTrendBody, ...analyticsErrors },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const { from, to, echo } = window(query);
      const { deadline } = await beginRequest(request, store, settings, { heavy: true });
      const routed = await afterChecks(
        [
          requireKnown(store, deadline, 'category', query.categoryId),
          requireKnown(store, deadline, 'product', query.productId),
        ],
        analytics.ratingTrend(query.strategy, deadline, {
          productId: query.productId ?? null,
          categoryId: query.categoryId ?? null,
          from,
          to,
          bucket: query.bucket,
          path: query.path,
        }),
      );
      setStrategyHeaders(reply, store, routed);
      return { window: echo, bucket: query.bucket, points: routed.value };
    },
  );
}

function registerCategoryReport(app: HttpServer, { store, analytics, settings, window }: RouteContext): void {
  app.get(
    '/analytics/category-report',
    {
      schema: {
        summary: 'Per category: rating distribution, price bands vs average rating, review volume',
        querystring: CategoryReportQuery,
        response: { 200: CategoryReportBody, ...analyticsErrors },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const priceEdges = query.priceEdges.split(',').map(Number);
      if (priceEdges.some((edge, index) => index > 0 && edge <= priceEdges[index - 1]!)) {
        throw new LocusError('LOCUS_VALIDATION', 'priceEdges: must be strictly ascending', {
          details: [{ field: 'querystring/priceEdges', message: 'must be strictly ascending' }],
        });
      }
      const { from, to, echo } = window(query);
      const { deadline } = await beginRequest(request, store, settings, { heavy: true });
      const routed = await afterChecks(
        [requireKnown(store, deadline, 'category', query.categoryId)],
        analytics.categoryReport(query.strategy, deadline, {
          categoryId: query.categoryId ?? null,
          from,
          to,
          priceEdges,
          path: query.path,
        }),
      );
      setStrategyHeaders(reply, store, routed);
      return { window: echo, categories: routed.value };
    },
  );
}

function registerRollup(app: HttpServer, { store, analytics, settings, window }: RouteContext): void {
  app.get(
    '/analytics/rollup',
    {
      schema: {
        summary:
          'Reviews in the window folded into `groups` buckets by review id: count and average rating per bucket',
        description:
          'The result has min(groups, reviews in the window) rows, so one query spans every result-to-input ratio.',
        querystring: RollupQuery,
        response: {
          200: {
            description: 'the buckets in bucket order (streamed)',
            content: { 'application/json': { schema: RollupBody } },
          },
          ...analyticsErrors,
        },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const { from, to, echo } = window(query);
      const { deadline } = await beginRequest(request, store, settings, { heavy: true });
      const routed = await analytics.rollup(query.strategy, deadline, { from, to, groups: query.groups });
      // Streamed: one request into millions of groups must not hold its whole answer in memory.
      const first = await routed.value.next();
      reply.raw.setTimeout(settings.exportIdleMs, () => reply.raw.destroy());
      setStrategyHeaders(reply, store, routed);
      reply.type('application/json');
      const head = `{"window":${JSON.stringify(echo)},"groups":${query.groups},"buckets":[`;
      const body = Readable.from(jsonArrayChunks(head, first, routed.value, ']}', deadline, 'rollup'));
      // The stream's text is the RollupBody document; the type provider only knows the object form.
      return reply.send(body as never);
    },
  );
}

function registerExport(app: HttpServer, { store, analytics, settings, window }: RouteContext): void {
  app.get(
    '/analytics/export',
    {
      schema: {
        summary: 'Every review in the window with its product, as NDJSON (result as large as input)',
        querystring: ExportQuery,
        response: {
          200: {
            description: 'one JSON object per line',
            content: { 'application/x-ndjson': { schema: {} } },
          },
          ...analyticsErrors,
        },
      },
    },
    async (request, reply) => {
      const { from, to } = window(request.query);
      const { deadline } = await beginRequest(request, store, settings, {
        heavy: true,
        defaultDeadlineMs: settings.exportDeadlineMs,
      });
      const routed = await analytics.exportReviews(request.query.strategy, deadline, { from, to });
      // The first line is read before answering, so a source that fails at once (replica gone,
      // upstream down) still gets a proper error status instead of a truncated 200.
      const first = await routed.value.next();
      // A client that stops reading would otherwise hold its replica connection and snapshot for as
      // long as it likes: past the idle time its connection is dropped, which ends the stream and
      // releases both.
      reply.raw.setTimeout(settings.exportIdleMs, () => reply.raw.destroy());
      setStrategyHeaders(reply, store, routed);
      reply.type('application/x-ndjson');
      return reply.send(Readable.from(ndjsonChunks(first, routed.value, deadline, 'export')));
    },
  );
}
