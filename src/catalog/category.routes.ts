import { ErrorBody } from '../shared/error-body.js';
import { LocusError } from '../shared/errors.js';
import type { HttpServer } from '../shared/http-server.js';
import type { CatalogDeps } from './catalog.deps.js';
import { findCategory, type Category } from './category.repository.js';
import { CategoryBody, CategoryInput, CategoryPatch } from './category.schemas.js';
import { createCategory, updateCategory } from './category.service.js';
import { ConditionalHeaders, IdempotentHeaders, IdParams, writeErrors } from './common.schemas.js';
import { requestFingerprint } from './fingerprint.js';
import { runWrite } from './idempotent-write.js';
import { etagOf, expectedVersion, sendHeaders, writeHeaders } from './versioning.js';

function written(status: number, category: Category) {
  return { status, body: category, headers: writeHeaders('category', category.id, category.version) };
}

/** Category routes, with the same write guarantees as the product routes (see product.routes.ts). */
export function registerCategoryRoutes(app: HttpServer, deps: CatalogDeps): void {
  const { db, context } = deps;

  app.post(
    '/categories',
    {
      schema: {
        summary: 'Create a category',
        headers: IdempotentHeaders,
        body: CategoryInput,
        response: { 201: CategoryBody, ...writeErrors },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const idempotency = key
        ? {
            key,
            fingerprint: requestFingerprint('POST', '/categories', request.body),
            now: context.clock.now(),
          }
        : undefined;
      const response = await runWrite(db, idempotency, async (trx) => {
        const category = await createCategory(trx, context, {
          name: request.body.name,
          description: request.body.description ?? '',
        });
        const result = written(201, category);
        return { ...result, headers: { ...result.headers, location: `/categories/${category.id}` } };
      });
      sendHeaders(reply, response.headers);
      return reply.code(201).send(response.body as Category);
    },
  );

  app.get(
    '/categories/:id',
    {
      schema: {
        summary: 'Read a category',
        params: IdParams,
        response: { 200: CategoryBody, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const category = await findCategory(db, request.params.id);
      if (!category) throw new LocusError('LOCUS_CATEGORY_NOT_FOUND', `no category ${request.params.id}`);
      void reply.header('etag', etagOf(category.version));
      return category;
    },
  );

  app.patch(
    '/categories/:id',
    {
      schema: {
        summary: 'Change a category',
        params: IdParams,
        headers: ConditionalHeaders,
        body: CategoryPatch,
        response: { 200: CategoryBody, ...writeErrors },
      },
    },
    async (request, reply) => {
      const expected = expectedVersion(request.headers['if-match']);
      const response = await runWrite(db, undefined, async (trx) =>
        written(200, await updateCategory(trx, context, request.params.id, expected, request.body)),
      );
      sendHeaders(reply, response.headers);
      return response.body as Category;
    },
  );
}
