import { LocusError } from '../shared/errors.js';

interface PgError {
  code?: string;
  constraint?: string;
}

/**
 * Turns the store's constraint violations into locus errors naming the field; anything else is
 * returned unchanged. The transaction that hit the violation has already been rolled back, so
 * nothing of the write (row, outbox event, idempotency key) remains.
 */
export function translatePgError(error: unknown): unknown {
  const { code, constraint } = (error ?? {}) as PgError;
  if (code === '23505' && constraint === 'products_sku_key') {
    return new LocusError('LOCUS_DUPLICATE_SKU', 'a product with this sku exists', {
      details: [{ field: 'body/sku', message: 'already used by another product' }],
      cause: error,
    });
  }
  if (code === '23505' && constraint === 'categories_name_key') {
    return new LocusError('LOCUS_CONFLICT', 'a category with this name exists', {
      details: [{ field: 'body/name', message: 'already used by another category' }],
      cause: error,
    });
  }
  if (code === '23503' && constraint === 'products_category_id_fkey') {
    return new LocusError('LOCUS_CATEGORY_NOT_FOUND', 'categoryId names no category', {
      details: [{ field: 'body/categoryId', message: 'no such category' }],
      cause: error,
    });
  }
  return error;
}
