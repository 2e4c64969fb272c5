import type { Kysely } from 'kysely';
import type { CatalogDb } from './catalog.tables.js';
import type { WriteContext } from './write-context.js';

/** What the catalog's routes need; built once in the composition root (src/apps/catalog.ts). */
export interface CatalogDeps {
  db: Kysely<CatalogDb>;
  context: WriteContext;
}
