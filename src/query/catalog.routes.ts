import { LocusError } from '../shared/errors.js';
import type { HttpServer } from '../shared/http-server.js';
import { decodeCursor } from './cursor.js';
import { notFound } from './not-found.js';
import {
  findCategorySummary,
  findProduct,
  listProducts,
  listReviews,
  REVIEWS_SORT,
  type ProductFilter,
} from './product.repository.js';
import {
  CategorySummaryBody,
  errorResponses,
  IdParams,
  ProductBody,
  ProductListQuery,
  ProductPage,
  ProductQuery,
  ReviewListQuery,
  ReviewPage,
} from './query.schemas.js';
import type { Queryable, ReadStore } from './read-store.js';
import {
  beginRequest,
  setReadHeaders,
  type RequestContext,
  type RequestSettings,
} from './request-context.js';

/**
 * Runs a light read where the request must or may: the backend a consistency token pinned, else the
 * replica with fallback to the read primary.
 */
async function lightRead<T>(
  store: ReadStore,
  context: RequestContext,
  what: string,
  fn: (db: Queryable) => Promise<T>,
) {
  const { deadline, requiredBackend } = context;
  if (requiredBackend === 'primary') {
    return { value: await store.onPrimary(deadline, what, fn), backend: 'primary' as const };
  }
  return store.pointRead(deadline, what, fn);
}

/** Point reads and lists over the views: products, a product's reviews, a category's summary. */
export function registerCatalogRoutes(app: HttpServer, store: ReadStore, settings: RequestSettings): void {
  for (const register of [registerProduct, registerProductList, registerReviewList, registerCategorySummary])
    register(app, store, settings);
}

function registerProduct(app: HttpServer, store: ReadStore, settings: RequestSettings): void {
  app.get(
    '/products/:id',
    {
      schema: {
        summary: 'One product with its review summary',
        params: IdParams,
        querystring: ProductQuery,
        response: { 200: ProductBody, ...errorResponses },
      },
    },
    async (request, reply) => {
      const context = await beginRequest(request, store, settings, { heavy: false });
      const { value, backend } = await lightRead(store, context, 'product', (db) =>
        findProduct(db, request.params.id),
      );
      setReadHeaders(reply, store, backend);
      if (!value) {
        throw notFound('product', request.params.id, 'params/id');
      }
      return value;
    },
  );
}

function registerProductList(app: HttpServer, store: ReadStore, settings: RequestSettings): void {
  app.get(
    '/products',
    {
      schema: {
        summary: 'Products filtered and sorted, keyset-paginated',
        querystring: ProductListQuery,
        response: { 200: ProductPage, ...errorResponses },
      },
    },
    async (request, reply) => {
      const query = request.query;
      if (query.minPrice !== undefined && query.maxPrice !== undefined && query.minPrice > query.maxPrice) {
        throw new LocusError('LOCUS_VALIDATION', 'minPrice: must not exceed maxPrice', {
          details: [{ field: 'querystring/minPrice', message: 'must not exceed maxPrice' }],
        });
      }
      const filter: ProductFilter = {
        ...(query.categoryId !== undefined && { categoryId: query.categoryId }),
        ...(query.minPrice !== undefined && { minPrice: query.minPrice }),
        ...(query.maxPrice !== undefined && { maxPrice: query.maxPrice }),
        ...(query.minRating !== undefined && { minRating: query.minRating }),
        sort: query.sort,
        limit: query.limit,
        ...(query.cursor !== undefined && { after: decodeCursor(query.cursor, query.sort) }),
      };
      const context = await beginRequest(request, store, settings, { heavy: false });
      const { value, backend } = await lightRead(store, context, 'product list', async (db) => {
        const page = await listProducts(db, filter);
        const unknownCategory =
          page.items.length === 0 && filter.categoryId !== undefined && !filter.after
            ? (await db.query('SELECT 1 FROM category_view WHERE id = $1', [filter.categoryId])).rowCount ===
              0
            : false;
        return { page, unknownCategory };
      });
      setReadHeaders(reply, store, backend);
      if (value.unknownCategory) {
        throw notFound('category', filter.categoryId!, 'querystring/categoryId');
      }
      return value.page;
    },
  );
}

function registerReviewList(app: HttpServer, store: ReadStore, settings: RequestSettings): void {
  app.get(
    '/products/:id/reviews',
    {
      schema: {
        summary: "A product's reviews, newest first, keyset-paginated",
        params: IdParams,
        querystring: ReviewListQuery,
        response: { 200: ReviewPage, ...errorResponses },
      },
    },
    async (request, reply) => {
      const after =
        request.query.cursor === undefined ? undefined : decodeCursor(request.query.cursor, REVIEWS_SORT);
      if (after && typeof after.key !== 'number') {
        throw new LocusError('LOCUS_BAD_CURSOR', 'cursor: not a reviews cursor', {
          details: [{ field: 'cursor', message: 'not a reviews cursor' }],
        });
      }
      const context = await beginRequest(request, store, settings, { heavy: false });
      const { value, backend } = await lightRead(store, context, 'reviews', (db) =>
        listReviews(db, request.params.id, request.query.limit, after),
      );
      setReadHeaders(reply, store, backend);
      if (!value) {
        throw notFound('product', request.params.id, 'params/id');
      }
      return value;
    },
  );
}

function registerCategorySummary(app: HttpServer, store: ReadStore, settings: RequestSettings): void {
  app.get(
    '/categories/:id/summary',
    {
      schema: {
        summary: "A category's product and review summary",
        params: IdParams,
        querystring: ProductQuery,
        response: { 200: CategorySummaryBody, ...errorResponses },
      },
    },
    async (request, reply) => {
      const context = await beginRequest(request, store, settings, { heavy: false });
      const { value, backend } = await lightRead(store, context, 'category summary', (db) =>
        findCategorySummary(db, request.params.id),
      );
      setReadHeaders(reply, store, backend);
      if (!value) {
        throw notFound('category', request.params.id, 'params/id');
      }
      return value;
    },
  );
}
