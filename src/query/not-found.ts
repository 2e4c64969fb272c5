import { LocusError } from '../shared/errors.js';

const CODES = { product: 'LOCUS_PRODUCT_NOT_FOUND', category: 'LOCUS_CATEGORY_NOT_FOUND' } as const;

/** The 404 of a product or category the read store does not know, naming the request field. */
export function notFound(kind: keyof typeof CODES, id: string, field: string): LocusError {
  return new LocusError(CODES[kind], `no ${kind} ${id}`, {
    details: [{ field, message: `unknown ${kind}` }],
  });
}
