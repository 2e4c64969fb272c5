import type { ColumnType, Generated, Selectable } from 'kysely';

/** The catalog store's tables as Kysely sees them (see migrations/catalog/0001_catalog.sql). */
interface CategoryTable {
  id: string;
  name: string;
  description: string;
  version: number;
  created_at: Date;
  updated_at: Date;
}

interface ProductTable {
  id: string;
  sku: string;
  name: string;
  description: string;
  category_id: string | null;
  /** Minor units; bigint in the store, parsed to a number (see shared/postgres.ts). */
  price_amount: number;
  price_currency: string;
  attributes: ColumnType<Record<string, unknown>, string, string>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

interface IdempotencyKeyTable {
  key: string;
  fingerprint: string;
  response_status: number | null;
  response_body: ColumnType<unknown, string | null, string | null>;
  response_headers: ColumnType<Record<string, string>, string | undefined, string>;
  created_at: Date;
}

interface OutboxTable {
  id: ColumnType<number, never, never>;
  event_id: string;
  topic: string;
  partition_key: string;
  lane: ColumnType<number, never, never>;
  aggregate_type: string;
  aggregate_id: string;
  aggregate_version: number;
  envelope: ColumnType<unknown, string, never>;
  created_at: Generated<Date>;
  published_at: Date | null;
}

export interface CatalogDb {
  categories: CategoryTable;
  products: ProductTable;
  idempotency_keys: IdempotencyKeyTable;
  outbox: OutboxTable;
}

export type CategoryRow = Selectable<CategoryTable>;
export type ProductRow = Selectable<ProductTable>;
