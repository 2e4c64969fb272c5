import Type from 'typebox';
import { ErrorBody } from '../shared/error-body.js';
import type { HttpServer } from '../shared/http-server.js';
import type { CatalogDeps } from './catalog.deps.js';
import { listCategories } from './category.repository.js';
import { CategoryBody } from './category.schemas.js';
import { ExportQuery } from './common.schemas.js';
import { listProducts } from './product.repository.js';
import { ProductBody } from './product.schemas.js';

const page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), next: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]) });

function nextCursor(items: { id: string }[], limit: number): string | null {
  return items.length === limit ? (items[items.length - 1]?.id ?? null) : null;
}

/**
 * The owner's data for other services (the query service's composition strategy, `locus verify`):
 * full current state, ordered by id, keyset-paginated (`after` = the previous page's `next`). Pages
 * are read-committed snapshots each; a walk sees every row that existed throughout it.
 */
export function registerExportRoutes(app: HttpServer, deps: CatalogDeps): void {
  app.get(
    '/export/products',
    {
      schema: {
        summary: 'Every product, by id',
        querystring: ExportQuery,
        response: { 200: page(ProductBody), 400: ErrorBody },
      },
    },
    async (request) => {
      const items = await listProducts(deps.db, request.query.after, request.query.limit);
      return { items, next: nextCursor(items, request.query.limit) };
    },
  );

  app.get(
    '/export/categories',
    {
      schema: {
        summary: 'Every category, by id',
        querystring: ExportQuery,
        response: { 200: page(CategoryBody), 400: ErrorBody },
      },
    },
    async (request) => {
      const items = await listCategories(deps.db, request.query.after, request.query.limit);
      return { items, next: nextCursor(items, request.query.limit) };
    },
  );
}
