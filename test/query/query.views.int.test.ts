import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/query/cursor.js';
import { createPool } from '../../src/shared/postgres.js';
import { createTestDatabase, type TestDatabase } from '../../testkit/isolation.js';
import {
  makeDataset,
  replicaPoolWhenReady,
  seedViews,
  startQueryService,
  waitForReplica,
  type Dataset,
  type TestQueryService,
} from './query.fixtures.js';

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface ProductItem {
  id: string;
  name: string;
  categoryId: string | null;
  categoryName: string | null;
  price: { amount: number; currency: string };
  averageRating: number | null;
  reviewCount: number;
  createdAt: string;
}

describe('query service point reads and lists (replica first)', () => {
  let db: TestDatabase;
  let primary: pg.Pool;
  let replicaProbe: pg.Pool;
  let data: Dataset;
  let service: TestQueryService;

  beforeAll(async () => {
    db = await createTestDatabase('readmodel');
    primary = createPool(db.url, { applicationName: 'query-views-test', max: 2 });
    replicaProbe = await replicaPoolWhenReady(db, 'query-views-test');
    data = makeDataset(7, { categoryCount: 3, perCategory: 12, reviews: 400 });
    await seedViews(primary, data);
    await waitForReplica(primary, replicaProbe);
    service = await startQueryService({
      replicaUrl: db.replicaUrl,
      primaryUrl: db.urlFor('LOCUS_QUERY_DB_URL'),
      catalogUrl: 'http://127.0.0.1:9',
      reviewsUrl: 'http://127.0.0.1:9',
      settings: { consistencyWaitMs: 1_000 },
    });
  });

  afterAll(async () => {
    await service?.close();
    await replicaProbe?.end();
    await primary?.end();
    await db?.drop();
  });

  const get = (url: string, headers: Record<string, string> = {}) =>
    service.app.inject({ method: 'GET', url, headers });

  /** Follows nextCursor to the end, collecting every item. */
  async function allPages<T>(url: string): Promise<{ items: T[]; pages: number }> {
    const items: T[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const separator = url.includes('?') ? '&' : '?';
      const response = await get(cursor ? `${url}${separator}cursor=${cursor}` : url);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<Page<T>>();
      items.push(...page.items);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 100);
    return { items, pages };
  }

  const ratingOf = (productId: string) => {
    const own = data.reviews.filter((review) => review.productId === productId);
    return own.length === 0 ? null : Number((own.reduce((a, r) => a + r.rating, 0) / own.length).toFixed(4));
  };
  const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

  it('GET /products/{id}: answers from the replica with the view row', async () => {
    const product = data.products[4]!;
    const response = await get(`/products/${product.id}`);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['locus-backend']).toBe('replica');
    expect(response.headers['locus-replica-lag-ms']).toMatch(/^\d+$/);
    const body = response.json<ProductItem & { sku: string; ratingHistogram: number[] }>();
    expect(body).toMatchObject({
      id: product.id,
      sku: product.sku,
      name: product.name,
      categoryId: product.categoryId,
      price: product.price,
      createdAt: product.createdAt,
      averageRating: ratingOf(product.id),
    });
    expect(body.ratingHistogram.reduce((a, b) => a + b, 0)).toBe(body.reviewCount);
  });

  it("reports the age of the projector's newest commit once it has committed", async () => {
    await primary.query(
      `INSERT INTO projector_commits (consumer, commit_lsn, committed_at, batch_events)
       VALUES ('locus-projector', pg_current_wal_lsn(), now() - interval '3 seconds', 1)`,
    );
    await waitForReplica(primary, replicaProbe);
    await sleep(300); // past the lag reading's cache
    const response = await get(`/products/${data.products[0]!.id}`);
    expect(response.statusCode).toBe(200);
    const age = Number(response.headers['locus-projector-commit-age-ms']);
    expect(age).toBeGreaterThanOrEqual(3_000);
    expect(age).toBeLessThan(30_000);
  });

  it('GET /products/{id}: unknown product → 404 LOCUS_PRODUCT_NOT_FOUND', async () => {
    const response = await get(`/products/${randomUUID()}`);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'LOCUS_PRODUCT_NOT_FOUND' });
  });

  it('GET /products sorted by price: keyset pages cover every product once, in price order', async () => {
    const { items, pages } = await allPages<ProductItem>('/products?sort=price&limit=7');
    const expected = [...data.products].sort((a, b) => a.price.amount - b.price.amount || byId(a.id, b.id));
    expect(pages).toBe(Math.ceil(expected.length / 7));
    expect(items.map((item) => item.id)).toEqual(expected.map((product) => product.id));
  });

  it('GET /products sorted by rating: best first, unrated last, across pages', async () => {
    const { items } = await allPages<ProductItem>('/products?sort=rating&limit=5');
    const expected = [...data.products]
      .map((product) => ({ id: product.id, rating: ratingOf(product.id) }))
      .sort((a, b) => {
        if (a.rating === null || b.rating === null)
          return a.rating === b.rating ? byId(a.id, b.id) : a.rating === null ? 1 : -1;
        return b.rating - a.rating || byId(a.id, b.id);
      });
    expect(items.map((item) => item.id)).toEqual(expected.map((product) => product.id));
  });

  it('GET /products sorted by newest with filters: category, price range and minimum rating', async () => {
    const categoryId = data.categories[0]!.id;
    const { items } = await allPages<ProductItem>(
      `/products?sort=newest&limit=3&categoryId=${categoryId}&minPrice=1000&maxPrice=12000&minRating=2`,
    );
    const expected = data.products
      .filter((p) => p.categoryId === categoryId && p.price.amount >= 1000 && p.price.amount <= 12000)
      .filter((p) => (ratingOf(p.id) ?? -1) >= 2)
      .sort((a, b) => byId(b.createdAt, a.createdAt) || byId(a.id, b.id));
    expect(expected.length).toBeGreaterThan(0);
    expect(items.map((item) => item.id)).toEqual(expected.map((product) => product.id));
  });

  it('GET /products/{id}/reviews: newest first, paginated, every review once', async () => {
    const counts = new Map<string, number>();
    for (const review of data.reviews) counts.set(review.productId, (counts.get(review.productId) ?? 0) + 1);
    const [productId] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
    const { items } = await allPages<{ id: string; createdAt: string }>(
      `/products/${productId}/reviews?limit=4`,
    );
    const expected = data.reviews
      .filter((review) => review.productId === productId)
      .sort((a, b) => byId(b.createdAt, a.createdAt) || byId(a.id, b.id));
    expect(items.map((item) => item.id)).toEqual(expected.map((review) => review.id));
  });

  it('GET /categories/{id}/summary: the category summary; unknown → 404 LOCUS_CATEGORY_NOT_FOUND', async () => {
    const category = data.categories[1]!;
    const response = await get(`/categories/${category.id}/summary`);
    expect(response.statusCode, response.body).toBe(200);
    const products = data.products.filter((p) => p.categoryId === category.id);
    expect(response.json()).toMatchObject({
      categoryId: category.id,
      name: category.name,
      productCount: products.length,
      priceMin: Math.min(...products.map((p) => p.price.amount)),
      reviewCount: data.reviews.filter((r) => products.some((p) => p.id === r.productId)).length,
    });
    const unknown = await get(`/categories/${randomUUID()}/summary`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'LOCUS_CATEGORY_NOT_FOUND' });
  });

  it('read-your-writes: a token for a version not yet applied waits until the replica shows it', async () => {
    const product = { ...data.products[0]!, id: randomUUID(), sku: 'SKU-LATE', name: 'Arrives late' };
    const started = performance.now();
    const write = (async () => {
      await sleep(300);
      await primary.query(
        `INSERT INTO product_summary (id, sku, name, price_amount, price_currency, created_at, updated_at, version)
         VALUES ($1, $2, $3, 100, 'EUR', now(), now(), 2)`,
        [product.id, product.sku, product.name],
      );
      await primary.query(
        `INSERT INTO applied_versions (aggregate_type, aggregate_id, version, event_time) VALUES ('product', $1, 2, now())`,
        [product.id],
      );
    })();
    const response = await get(`/products/${product.id}`, {
      'locus-consistency-token': `product:${product.id}:2`,
    });
    await write;
    expect(response.statusCode, response.body).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(response.headers['locus-backend']).toBe('replica');
    expect(response.json()).toMatchObject({ id: product.id, name: 'Arrives late', version: 2 });
    // The query parameter form works the same.
    const again = await get(`/products/${product.id}?consistencyToken=product:${product.id}:2`);
    expect(again.statusCode).toBe(200);
  });

  it('read-your-writes: past the wait bound → 503 LOCUS_NOT_YET_CONSISTENT with Retry-After', async () => {
    const product = data.products[1]!;
    const started = performance.now();
    const response = await get(`/products/${product.id}`, {
      'locus-consistency-token': `product:${product.id}:9`,
    });
    const elapsed = performance.now() - started;
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'LOCUS_NOT_YET_CONSISTENT' });
    expect(response.headers['retry-after']).toBe('1');
    expect(elapsed).toBeGreaterThanOrEqual(950); // LOCUS_CONSISTENCY_WAIT_MS of this service: 1000
    expect(elapsed).toBeLessThan(2_000);
  });

  it('read-your-writes: allowed to fall back, the primary is checked too (and refused when it lacks the version)', async () => {
    const product = data.products[1]!;
    const response = await get(`/products/${product.id}`, {
      'locus-consistency-token': `product:${product.id}:9`,
      'locus-allow-primary': 'true',
      'locus-deadline-ms': '400',
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ code: 'LOCUS_NOT_YET_CONSISTENT' });
    const satisfied = await get(`/products/${product.id}`, {
      'locus-consistency-token': `product:${product.id}:1`,
      'locus-allow-primary': 'true',
    });
    expect(satisfied.statusCode).toBe(200);
  });

  describe('bad input is refused with a code naming the field', () => {
    const otherSortCursor = encodeCursor({ sort: 'price', key: 10, id: randomUUID() });
    it.each([
      ['/products?limit=-1', 400, 'LOCUS_VALIDATION', 'limit'],
      ['/products?limit=1000', 400, 'LOCUS_VALIDATION', 'limit'],
      ['/products?sort=cheapest', 400, 'LOCUS_VALIDATION', 'sort'],
      ['/products?cursor=%25%25not-base64', 400, 'LOCUS_BAD_CURSOR', 'cursor'],
      ['/products?cursor=bm90LWEtY3Vyc29y', 400, 'LOCUS_BAD_CURSOR', 'cursor'],
      [`/products?sort=rating&cursor=${otherSortCursor}`, 400, 'LOCUS_BAD_CURSOR', 'cursor'],
      ['/products?minPrice=500&maxPrice=100', 400, 'LOCUS_VALIDATION', 'minPrice'],
      ['/products?minRating=6', 400, 'LOCUS_VALIDATION', 'minRating'],
      [`/products?categoryId=${randomUUID()}`, 404, 'LOCUS_CATEGORY_NOT_FOUND', 'categoryId'],
      ['/products?colour=red', 400, 'LOCUS_UNKNOWN_FIELD', 'colour'],
      ['/products/not-a-uuid', 400, 'LOCUS_VALIDATION', 'id'],
      [`/products/${randomUUID()}/reviews?cursor=${otherSortCursor}`, 400, 'LOCUS_BAD_CURSOR', 'cursor'],
      [`/products/${randomUUID()}/reviews`, 404, 'LOCUS_PRODUCT_NOT_FOUND', 'id'],
      ['/products?consistencyToken=product:nope:1', 400, 'LOCUS_VALIDATION', 'consistencyToken'],
      ['/analytics/top-rated?strategy=fastest', 400, 'LOCUS_VALIDATION', 'strategy'],
      ['/analytics/top-rated?limit=0', 400, 'LOCUS_VALIDATION', 'limit'],
      ['/analytics/top-rated?minReviews=-3', 400, 'LOCUS_VALIDATION', 'minReviews'],
      [
        '/analytics/top-rated?from=2026-05-01T00:00:00Z&to=2026-04-01T00:00:00Z',
        400,
        'LOCUS_VALIDATION',
        'from',
      ],
      [
        '/analytics/rating-trend?from=2010-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
        400,
        'LOCUS_VALIDATION',
        'to',
      ],
      ['/analytics/rating-trend?bucket=year', 400, 'LOCUS_VALIDATION', 'bucket'],
      [`/analytics/rating-trend?productId=${randomUUID()}`, 404, 'LOCUS_PRODUCT_NOT_FOUND', 'productId'],
      [`/analytics/top-rated?categoryId=${randomUUID()}`, 404, 'LOCUS_CATEGORY_NOT_FOUND', 'categoryId'],
      ['/analytics/category-report?priceEdges=500,100', 400, 'LOCUS_VALIDATION', 'priceEdges'],
      [
        '/analytics/category-report?priceEdges=1;DROP TABLE review_view',
        400,
        'LOCUS_VALIDATION',
        'priceEdges',
      ],
      ['/analytics/export?from=yesterday', 400, 'LOCUS_VALIDATION', 'from'],
    ])('%s → %i %s', async (url, status, code, field) => {
      const response = await get(url);
      expect(response.statusCode, response.body).toBe(status);
      const body = response.json<{ code: string; message: string; details: { field?: string }[] }>();
      expect(body.code).toBe(code);
      expect(`${body.message} ${body.details.map((d) => d.field).join(' ')}`).toContain(field);
    });

    it('a deadline header that is not a positive integer → 400 naming it', async () => {
      const response = await get('/products', { 'locus-deadline-ms': '-5' });
      expect(response.statusCode).toBe(400);
      expect(response.body).toContain('Locus-Deadline-Ms');
    });
  });

  it('serves its OpenAPI document with every route', async () => {
    const response = await get('/documentation/json');
    expect(response.statusCode).toBe(200);
    const paths = Object.keys(response.json<{ paths: Record<string, unknown> }>().paths);
    for (const path of [
      '/products/{id}',
      '/products',
      '/products/{id}/reviews',
      '/categories/{id}/summary',
      '/analytics/top-rated',
      '/analytics/rating-trend',
      '/analytics/category-report',
      '/analytics/export',
    ]) {
      expect(paths).toContain(path);
    }
  });
});
