import Type, { type Static } from 'typebox';
import { ErrorBody } from '../shared/error-body.js';
import { LocusError } from '../shared/errors.js';
import type { HttpServer } from '../shared/http-server.js';
import type { CatalogDeps } from './catalog.deps.js';
import { ConditionalHeaders, IdempotentHeaders, IdParams, writeErrors } from './common.schemas.js';
import { requestFingerprint } from './fingerprint.js';
import { runWrite } from './idempotent-write.js';
import { findProduct, type Product } from './product.repository.js';
import { ProductBody, ProductInput, ProductPatch } from './product.schemas.js';
import { createProduct, deleteProduct, updateProduct, type ProductFields } from './product.service.js';
import { etagOf, expectedVersion, sendHeaders, writeHeaders } from './versioning.js';

function fieldsOf(input: Static<typeof ProductInput>): ProductFields {
  return {
    sku: input.sku,
    name: input.name,
    description: input.description ?? '',
    categoryId: input.categoryId ?? null,
    price: input.price,
    attributes: input.attributes ?? {},
  };
}

function written(status: number, product: Product) {
  return { status, body: product, headers: writeHeaders('product', product.id, product.version) };
}

/**
 * Product routes. Writes are transactional with their outbox event; `If-Match: "<version>"` makes
 * PUT/PATCH/DELETE conditional (absent or `*`: apply to the current version); `Idempotency-Key`
 * makes POST safe to retry. Every accepted write answers with `ETag` and `Locus-Consistency-Token`.
 */
export function registerProductRoutes(app: HttpServer, deps: CatalogDeps): void {
  for (const register of [registerCreate, registerRead, registerReplace, registerChange, registerDelete])
    register(app, deps);
}

function registerCreate(app: HttpServer, { db, context }: CatalogDeps): void {
  app.post(
    '/products',
    {
      schema: {
        summary: 'Create a product',
        headers: IdempotentHeaders,
        body: ProductInput,
        response: { 201: ProductBody, ...writeErrors },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const idempotency = key
        ? {
            key,
            fingerprint: requestFingerprint('POST', '/products', request.body),
            now: context.clock.now(),
          }
        : undefined;
      const response = await runWrite(db, idempotency, async (trx) => {
        const product = await createProduct(trx, context, fieldsOf(request.body));
        const result = written(201, product);
        return { ...result, headers: { ...result.headers, location: `/products/${product.id}` } };
      });
      sendHeaders(reply, response.headers);
      return reply.code(201).send(response.body as Product);
    },
  );
}

function registerRead(app: HttpServer, { db }: CatalogDeps): void {
  app.get(
    '/products/:id',
    {
      schema: {
        summary: 'Read a product',
        params: IdParams,
        response: { 200: ProductBody, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (request, reply) => {
      const product = await findProduct(db, request.params.id);
      if (!product) throw new LocusError('LOCUS_PRODUCT_NOT_FOUND', `no product ${request.params.id}`);
      void reply.header('etag', etagOf(product.version));
      return product;
    },
  );
}

function registerReplace(app: HttpServer, { db, context }: CatalogDeps): void {
  app.put(
    '/products/:id',
    {
      schema: {
        summary: 'Replace a product',
        params: IdParams,
        headers: ConditionalHeaders,
        body: ProductInput,
        response: { 200: ProductBody, ...writeErrors },
      },
    },
    async (request, reply) => {
      const expected = expectedVersion(request.headers['if-match']);
      const response = await runWrite(db, undefined, async (trx) =>
        written(200, await updateProduct(trx, context, request.params.id, expected, fieldsOf(request.body))),
      );
      sendHeaders(reply, response.headers);
      return response.body as Product;
    },
  );
}

function registerChange(app: HttpServer, { db, context }: CatalogDeps): void {
  app.patch(
    '/products/:id',
    {
      schema: {
        summary: 'Change some fields of a product',
        params: IdParams,
        headers: ConditionalHeaders,
        body: ProductPatch,
        response: { 200: ProductBody, ...writeErrors },
      },
    },
    async (request, reply) => {
      const expected = expectedVersion(request.headers['if-match']);
      const response = await runWrite(db, undefined, async (trx) =>
        written(200, await updateProduct(trx, context, request.params.id, expected, request.body)),
      );
      sendHeaders(reply, response.headers);
      return response.body as Product;
    },
  );
}

function registerDelete(app: HttpServer, { db, context }: CatalogDeps): void {
  app.delete(
    '/products/:id',
    {
      schema: {
        summary: 'Delete a product',
        params: IdParams,
        headers: ConditionalHeaders,
        response: { 204: Type.Null(), ...writeErrors },
      },
    },
    async (request, reply) => {
      const expected = expectedVersion(request.headers['if-match']);
      const id = request.params.id;
      const version = await db.transaction().execute((trx) => deleteProduct(trx, context, id, expected));
      sendHeaders(reply, writeHeaders('product', id, version));
      return reply.code(204).send(null);
    },
  );
}
