import type { FastifyReply, FastifyRequest } from 'fastify';
import { CONSISTENCY_TOKEN_HEADER, formatConsistencyToken } from '../contracts/consistency-token.js';
import { ErrorBody } from '../shared/error-body.js';
import type { HttpServer } from '../shared/http-server.js';
import type { ReviewService, VersionedReview } from './review.service.js';
import {
  ConditionalHeaders,
  CreateHeaders,
  CreateReviewBatchBody,
  CreateReviewBody,
  ExportPage,
  ExportQuery,
  PatchReviewBody,
  ProductParams,
  ReviewBatchResource,
  ReviewParams,
  ReviewResource,
} from './review.schemas.js';
import { assertSafeKeys } from './safe-keys.js';

// 503: the store or the catalog is unavailable (Retry-After); every route may answer it.
const writeErrors = {
  400: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  422: ErrorBody,
  503: ErrorBody,
};

/**
 * Body limit of a batch: room for MAX_BATCH_ITEMS typical reviews, not for as many at every bound
 * (a client with very long reviews sends fewer per batch, or gets 413).
 */
const REVIEW_BATCH_BODY_LIMIT = 8 * 1024 * 1024;

/** Runs before schema validation: `$`/dotted keys anywhere in the body or query are refused. */
async function rejectUnsafeKeys(request: FastifyRequest): Promise<void> {
  assertSafeKeys(request.body, 'body');
  assertSafeKeys(request.query, 'querystring');
}

function resource({ review, version }: VersionedReview) {
  return { ...review, version };
}

function expectedVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined || ifMatch === '*') return undefined;
  return Number(ifMatch.replace(/^W\//, '').replaceAll('"', ''));
}

function setWriteHeaders(reply: FastifyReply, id: string, version: number): void {
  void reply.header('etag', `"${version}"`);
  void reply.header(
    CONSISTENCY_TOKEN_HEADER,
    formatConsistencyToken({ aggregateType: 'review', aggregateId: id, version }),
  );
}

/**
 * The reviews API. Writes answer with `ETag: "<version>"` and `Locus-Consistency-Token:
 * review:<id>:<version>`; PATCH and DELETE honour `If-Match` (stale → 409 LOCUS_VERSION_CONFLICT);
 * POST honours `Idempotency-Key`.
 */
export function registerReviewRoutes(app: HttpServer, reviews: ReviewService): void {
  for (const register of [
    registerCreate,
    registerCreateBatch,
    registerRead,
    registerChange,
    registerDelete,
    registerExport,
  ])
    register(app, reviews);
}

function registerCreate(app: HttpServer, reviews: ReviewService): void {
  app.post(
    '/products/:productId/reviews',
    {
      preValidation: rejectUnsafeKeys,
      schema: {
        summary: 'Review a product',
        params: ProductParams,
        headers: CreateHeaders,
        body: CreateReviewBody,
        response: { 201: ReviewResource, ...writeErrors },
      },
    },
    async (request, reply) => {
      const created = await reviews.create(
        request.params.productId,
        request.body,
        request.headers['idempotency-key'],
      );
      setWriteHeaders(reply, created.review.id, created.version);
      void reply.header('location', `/reviews/${created.review.id}`);
      if (created.replayed) void reply.header('idempotent-replayed', 'true');
      return reply.code(201).send(resource(created));
    },
  );
}

function registerCreateBatch(app: HttpServer, reviews: ReviewService): void {
  app.post(
    // `::` is a literal colon: the path is /reviews:batch.
    '/reviews::batch',
    {
      preValidation: rejectUnsafeKeys,
      bodyLimit: REVIEW_BATCH_BODY_LIMIT,
      schema: {
        summary: 'Review many products at once: all items are checked, then written in a few round trips',
        description:
          'Each item is created as POST /products/{productId}/reviews creates one (same events and outbox). ' +
          'An invalid item or an unknown product answers 400/404 naming `body/items/<i>/<field>` and writes ' +
          'nothing. No Idempotency-Key: when the store fails part-way, the 503 names the items not written.',
        body: CreateReviewBatchBody,
        response: { 201: ReviewBatchResource, ...writeErrors },
      },
    },
    async (request, reply) => {
      const created = await reviews.createBatch(
        request.body.items.map(({ productId, ...review }) => ({ productId, review })),
      );
      return reply.code(201).send({ items: created.map(resource) });
    },
  );
}

function registerRead(app: HttpServer, reviews: ReviewService): void {
  app.get(
    '/reviews/:id',
    {
      preValidation: rejectUnsafeKeys,
      schema: {
        summary: 'Read a review',
        params: ReviewParams,
        response: { 200: ReviewResource, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const found = await reviews.get(request.params.id);
      void reply.header('etag', `"${found.version}"`);
      return resource(found);
    },
  );
}

function registerChange(app: HttpServer, reviews: ReviewService): void {
  app.patch(
    '/reviews/:id',
    {
      preValidation: rejectUnsafeKeys,
      schema: {
        summary: 'Change a review',
        params: ReviewParams,
        headers: ConditionalHeaders,
        body: PatchReviewBody,
        response: { 200: ReviewResource, ...writeErrors },
      },
    },
    async (request, reply) => {
      const updated = await reviews.update(
        request.params.id,
        request.body,
        expectedVersion(request.headers['if-match']),
      );
      setWriteHeaders(reply, request.params.id, updated.version);
      return resource(updated);
    },
  );
}

function registerDelete(app: HttpServer, reviews: ReviewService): void {
  app.delete(
    '/reviews/:id',
    {
      preValidation: rejectUnsafeKeys,
      schema: {
        summary: 'Delete a review',
        params: ReviewParams,
        headers: ConditionalHeaders,
        response: { 204: { type: 'null' }, ...writeErrors },
      },
    },
    async (request, reply) => {
      const { version } = await reviews.remove(
        request.params.id,
        expectedVersion(request.headers['if-match']),
      );
      setWriteHeaders(reply, request.params.id, version);
      return reply.code(204).send(null);
    },
  );
}

function registerExport(app: HttpServer, reviews: ReviewService): void {
  app.get(
    '/export/reviews',
    {
      preValidation: rejectUnsafeKeys,
      schema: {
        summary: 'Every live review, ordered by id, a page at a time',
        querystring: ExportQuery,
        response: { 200: ExportPage, 400: ErrorBody, 503: ErrorBody },
      },
    },
    async (request) => {
      const page = await reviews.exportPage(request.query.after, request.query.limit);
      return { items: page.items.map(resource), next: page.next };
    },
  );
}
