import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { CategoryState, ProductState } from '../contracts/catalog.events.js';
import { ReviewState } from '../contracts/review.events.js';
import { bearerHeader } from '../shared/auth.tokens.js';
import type { RowSource } from './analytics.aggregate.js';
import type { CategoryRow, ProductRow, ReviewRow } from './analytics.types.js';
import {
  BackendPolicy,
  UpstreamError,
  upstreamClassifier,
  type ResilienceOptions,
} from './backend.policy.js';
import type { Deadline } from './deadline.js';

/** An owner's export API: `GET {baseUrl}{path}?after=&limit=` → `{items, next}`. */
export class ExportApi {
  readonly policy: BackendPolicy;

  constructor(
    readonly name: 'catalog-api' | 'reviews-api',
    readonly baseUrl: string,
    resilience: ResilienceOptions,
    readonly pageSize = 500,
    /** Told the size of every body received, for the bytes-moved metric. */
    private readonly onBytes: (bytes: number) => void = () => undefined,
    /** This service's own bearer token: the owners' exports need the `export` scope. */
    private readonly token?: string,
  ) {
    this.policy = new BackendPolicy(name, resilience, upstreamClassifier);
  }

  /**
   * Every item of an export, page by page, each page fetched under this API's breaker, retries and the
   * request's deadline (the fetch is aborted when the deadline passes).
   * @throws UpstreamError-derived LocusError codes from BackendPolicy; LOCUS_INTERNAL for a malformed page.
   */
  async *items(path: string, deadline: Deadline): AsyncGenerator<unknown> {
    let after: string | null = null;
    for (;;) {
      const url = new URL(path, this.baseUrl);
      url.searchParams.set('limit', String(this.pageSize));
      if (after !== null) url.searchParams.set('after', after);
      const page = await this.policy.execute(deadline, `${this.name} ${path}`, async (signal) => {
        let response: Response;
        try {
          response = await fetch(url, {
            signal,
            headers: { accept: 'application/json', ...bearerHeader(this.token) },
          });
        } catch (error) {
          throw new UpstreamError(`${this.name}: ${(error as Error).message}`, undefined, { cause: error });
        }
        if (!response.ok) {
          await response.body?.cancel();
          throw new UpstreamError(`${this.name} answered ${response.status} for ${path}`, response.status);
        }
        const body = Buffer.from(await response.arrayBuffer());
        this.onBytes(body.byteLength);
        return JSON.parse(body.toString('utf8')) as { items?: unknown; next?: unknown };
      });
      if (
        !Array.isArray(page.items) ||
        !(page.next === null || page.next === undefined || typeof page.next === 'string')
      ) {
        throw new UpstreamError(`${this.name}: ${path} did not answer {items, next}`, 502);
      }
      yield* page.items;
      if (page.next === null || page.next === undefined || page.items.length === 0) return;
      after = page.next;
    }
  }
}

// Upstream items are checked against the contracts' schemas with ajv (already loaded for the routes)
// rather than typebox/compile, which would add ~20 MB to the process for the same answer.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false }));
const isProduct = ajv.compile(ProductState);
const isCategory = ajv.compile(CategoryState);
const isReview = ajv.compile(ReviewState);

function check<T>(valid: (value: unknown) => boolean, what: string, item: unknown): T {
  if (!valid(item)) throw new UpstreamError(`upstream sent an invalid ${what}`, 502);
  return item as T;
}

/**
 * Composition rows: the owners' REST exports (catalog: products and categories; reviews: reviews),
 * paged in their order (the reviews export pages by review id). The query service never connects
 * to another service's store; it joins and filters here.
 */
export function compositionRowSource(catalog: ExportApi, reviews: ExportApi, deadline: Deadline): RowSource {
  return {
    async *products() {
      for await (const item of catalog.items('/export/products', deadline)) {
        const product = check<ProductState>(isProduct, 'product', item);
        yield {
          id: product.id.toLowerCase(),
          sku: product.sku,
          name: product.name,
          categoryId: product.categoryId?.toLowerCase() ?? null,
          priceAmount: product.price.amount,
          priceCurrency: product.price.currency,
        } satisfies ProductRow;
      }
    },
    async *categories() {
      for await (const item of catalog.items('/export/categories', deadline)) {
        const category = check<CategoryState>(isCategory, 'category', item);
        yield { id: category.id.toLowerCase(), name: category.name } satisfies CategoryRow;
      }
    },
    async *reviews() {
      for await (const item of reviews.items('/export/reviews', deadline)) {
        const review = check<ReviewState>(isReview, 'review', item);
        yield {
          id: review.id.toLowerCase(),
          productId: review.productId.toLowerCase(),
          author: review.author,
          rating: review.rating,
          title: review.title,
          body: review.body,
          createdAt: new Date(review.createdAt),
        } satisfies ReviewRow;
      }
    },
  };
}
