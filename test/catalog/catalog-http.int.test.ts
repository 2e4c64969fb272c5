import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG_BODY_MAX_BYTES } from '../../src/contracts/bounds.js';
import type { ErrorBody } from '../../src/shared/error-body.js';
import { aProduct, outboxRows, startCatalog, type CatalogFixture } from './catalog-fixture.js';
import { uniqueTopicPrefix } from '../../testkit/isolation.js';

describe('catalog HTTP writes', () => {
  let catalog: CatalogFixture;

  beforeAll(async () => {
    catalog = await startCatalog(uniqueTopicPrefix());
  });
  afterAll(async () => {
    await catalog?.close();
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    catalog.app.inject({ method: 'POST', url, payload: payload as object, headers });
  const outboxCount = async () => (await outboxRows(catalog.db)).length;
  const productCount = async () =>
    (
      await catalog.db
        .selectFrom('products')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n;

  describe('rejects bad input with 400/413, a code and the field, writing nothing', () => {
    const cases: [
      string,
      () => { payload: unknown; headers?: Record<string, string> },
      number,
      string,
      string,
    ][] = [
      [
        'malformed JSON',
        () => ({ payload: '{"sku": ', headers: { 'content-type': 'application/json' } }),
        400,
        'LOCUS_VALIDATION',
        'body',
      ],
      [
        'an unknown field',
        () => ({ payload: aProduct({ colour: 'red' }) }),
        400,
        'LOCUS_UNKNOWN_FIELD',
        'body/colour',
      ],
      [
        'a wrong type',
        () => ({ payload: aProduct({ price: { amount: '12', currency: 'EUR' } }) }),
        400,
        'LOCUS_VALIDATION',
        'body/price/amount',
      ],
      [
        'a negative price',
        () => ({ payload: aProduct({ price: { amount: -1, currency: 'EUR' } }) }),
        400,
        'LOCUS_VALIDATION',
        'body/price/amount',
      ],
      [
        'a fractional price',
        () => ({ payload: aProduct({ price: { amount: 1.5, currency: 'EUR' } }) }),
        400,
        'LOCUS_VALIDATION',
        'body/price/amount',
      ],
      [
        'a bad currency',
        () => ({ payload: aProduct({ price: { amount: 1, currency: 'euro' } }) }),
        400,
        'LOCUS_VALIDATION',
        'body/price/currency',
      ],
      [
        'a missing name',
        () => ({ payload: (({ name: _n, ...rest }) => rest)(aProduct()) }),
        400,
        'LOCUS_VALIDATION',
        'body/name',
      ],
      ['an empty sku', () => ({ payload: aProduct({ sku: '' }) }), 400, 'LOCUS_VALIDATION', 'body/sku'],
      [
        'a categoryId that is not a uuid',
        () => ({ payload: aProduct({ categoryId: 'kitchen' }) }),
        400,
        'LOCUS_VALIDATION',
        'body/categoryId',
      ],
      [
        'an oversized body',
        () => ({ payload: aProduct({ description: 'x'.repeat(CATALOG_BODY_MAX_BYTES) }) }),
        413,
        'LOCUS_PAYLOAD_TOO_LARGE',
        '',
      ],
    ];
    it.each(cases)('%s', async (_name, request, status, code, field) => {
      // given the store as it is
      const before = await outboxCount();
      // when the bad product is posted
      const { payload, headers } = request();
      const response = await post('/products', payload, headers);
      // then it is refused with the code naming the field, and nothing was written
      expect(response.statusCode).toBe(status);
      const body = response.json<ErrorBody>();
      expect(body.code).toBe(code);
      if (field) expect(body.details.map((d) => d.field)).toContain(field);
      expect(await outboxCount()).toBe(before);
    });

    it('a malformed If-Match names the header', async () => {
      const id = (await post('/products', aProduct())).json<{ id: string }>().id;
      const response = await catalog.app.inject({
        method: 'PATCH',
        url: `/products/${id}`,
        headers: { 'if-match': 'yesterday' },
        payload: { name: 'X' },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json<ErrorBody>().details.map((d) => d.field)).toContain('headers/if-match');
    });

    it('an empty PATCH is refused', async () => {
      const id = (await post('/products', aProduct())).json<{ id: string }>().id;
      const response = await catalog.app.inject({ method: 'PATCH', url: `/products/${id}`, payload: {} });
      expect(response.statusCode).toBe(400);
      expect(response.json<ErrorBody>().code).toBe('LOCUS_VALIDATION');
    });
  });

  it('answers a write with ETag, Location and the consistency token, and records one outbox row', async () => {
    const before = await outboxCount();
    const response = await post('/products', aProduct());
    expect(response.statusCode).toBe(201);
    const product = response.json<{ id: string; version: number }>();
    expect(product.version).toBe(1);
    expect(response.headers.etag).toBe('"1"');
    expect(response.headers.location).toBe(`/products/${product.id}`);
    expect(response.headers['locus-consistency-token']).toBe(`product:${product.id}:1`);
    const rows = await outboxRows(catalog.db);
    expect(rows).toHaveLength(before + 1);
    expect(rows.at(-1)).toMatchObject({
      topic: catalog.topics.products,
      partition_key: product.id,
      aggregate_version: 1,
      published_at: null,
    });
  });

  it('refuses a duplicate SKU with 409 LOCUS_DUPLICATE_SKU and writes nothing', async () => {
    await post('/products', aProduct({ sku: 'DUP-1' }));
    const [outboxBefore, productsBefore] = [await outboxCount(), await productCount()];
    const response = await post('/products', aProduct({ sku: 'DUP-1' }));
    expect(response.statusCode).toBe(409);
    expect(response.json<ErrorBody>()).toMatchObject({
      code: 'LOCUS_DUPLICATE_SKU',
      details: [{ field: 'body/sku' }],
    });
    expect([await outboxCount(), await productCount()]).toEqual([outboxBefore, productsBefore]);
  });

  it('refuses an unknown category with 404 LOCUS_CATEGORY_NOT_FOUND naming categoryId, writing nothing', async () => {
    const before = await outboxCount();
    const response = await post(
      '/products',
      aProduct({ categoryId: '00000000-0000-4000-8000-000000000000' }),
    );
    expect(response.statusCode).toBe(404);
    expect(response.json<ErrorBody>()).toMatchObject({
      code: 'LOCUS_CATEGORY_NOT_FOUND',
      details: [{ field: 'body/categoryId' }],
    });
    expect(await outboxCount()).toBe(before);
  });

  it('refuses a stale If-Match with 409 LOCUS_VERSION_CONFLICT and leaves the product as it was', async () => {
    const id = (await post('/products', aProduct({ name: 'Original' }))).json<{ id: string }>().id;
    await catalog.app.inject({
      method: 'PATCH',
      url: `/products/${id}`,
      headers: { 'if-match': '"1"' },
      payload: { name: 'Second' },
    });
    const before = await outboxCount();
    for (const method of ['PATCH', 'PUT', 'DELETE'] as const) {
      const response = await catalog.app.inject({
        method,
        url: `/products/${id}`,
        headers: { 'if-match': '"1"' },
        ...(method === 'DELETE'
          ? {}
          : { payload: method === 'PUT' ? aProduct({ name: 'Third' }) : { name: 'Third' } }),
      });
      expect(response.statusCode).toBe(409);
      expect(response.json<ErrorBody>().code).toBe('LOCUS_VERSION_CONFLICT');
    }
    const current = await catalog.app.inject({ method: 'GET', url: `/products/${id}` });
    expect(current.json()).toMatchObject({ name: 'Second', version: 2 });
    expect(current.headers.etag).toBe('"2"');
    expect(await outboxCount()).toBe(before);
  });

  it('lets exactly one of several concurrent updates with the same If-Match succeed', async () => {
    const id = (await post('/products', aProduct())).json<{ id: string }>().id;
    const before = await outboxCount();
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        catalog.app.inject({
          method: 'PATCH',
          url: `/products/${id}`,
          headers: { 'if-match': '"1"' },
          payload: { name: `writer ${i}` },
        }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
    expect(await outboxCount()).toBe(before + 1);
    const winner = responses.find((r) => r.statusCode === 200)!.json<{ name: string }>();
    const current = (await catalog.app.inject({ method: 'GET', url: `/products/${id}` })).json<object>();
    expect(current).toMatchObject({ name: winner.name, version: 2 });
  });

  describe('Idempotency-Key on POST', () => {
    it('answers a retry with the same key and body with the first response, writing once', async () => {
      const payload = aProduct();
      const first = await post('/products', payload, { 'idempotency-key': 'create-kettle-1' });
      const before = await outboxCount();
      const retry = await post('/products', payload, { 'idempotency-key': 'create-kettle-1' });
      expect(retry.statusCode).toBe(201);
      expect(retry.json()).toEqual(first.json());
      expect(retry.headers['locus-consistency-token']).toBe(first.headers['locus-consistency-token']);
      expect(await outboxCount()).toBe(before);
    });

    it('refuses the same key with another body with 422 LOCUS_IDEMPOTENCY_MISMATCH', async () => {
      await post('/products', aProduct(), { 'idempotency-key': 'create-kettle-2' });
      const before = await outboxCount();
      const response = await post('/products', aProduct(), { 'idempotency-key': 'create-kettle-2' });
      expect(response.statusCode).toBe(422);
      expect(response.json<ErrorBody>().code).toBe('LOCUS_IDEMPOTENCY_MISMATCH');
      expect(await outboxCount()).toBe(before);
    });

    it('runs concurrent retries of one key once', async () => {
      const payload = aProduct();
      const before = await outboxCount();
      const responses = await Promise.all(
        Array.from({ length: 5 }, () => post('/products', payload, { 'idempotency-key': 'create-kettle-3' })),
      );
      expect(responses.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
      expect(new Set(responses.map((r) => r.json<{ id: string }>().id)).size).toBe(1);
      expect(await outboxCount()).toBe(before + 1);
    });

    it('does not remember a key whose write failed, so a corrected retry succeeds', async () => {
      await post('/products', aProduct({ sku: 'TAKEN-1' }));
      const failed = await post('/products', aProduct({ sku: 'TAKEN-1' }), { 'idempotency-key': 'k-failed' });
      expect(failed.statusCode).toBe(409);
      const retry = await post('/products', aProduct({ sku: 'TAKEN-1' }), { 'idempotency-key': 'k-failed' });
      expect(retry.statusCode).toBe(409);
      const stored = await catalog.db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('key', '=', 'k-failed')
        .execute();
      expect(stored).toHaveLength(0);
    });
  });

  it('deletes a product, recording a deleted event with its categoryId at the next version', async () => {
    const categoryId = (await post('/categories', { name: 'Garden' })).json<{ id: string }>().id;
    const id = (await post('/products', aProduct({ categoryId }))).json<{ id: string }>().id;
    const response = await catalog.app.inject({
      method: 'DELETE',
      url: `/products/${id}`,
      headers: { 'if-match': '"1"' },
    });
    expect(response.statusCode).toBe(204);
    expect(response.headers['locus-consistency-token']).toBe(`product:${id}:2`);
    expect((await catalog.app.inject({ method: 'GET', url: `/products/${id}` })).statusCode).toBe(404);
    const last = (await outboxRows(catalog.db)).at(-1)!;
    expect(last).toMatchObject({ aggregate_id: id, aggregate_version: 2 });
    expect(last.envelope).toMatchObject({
      type: 'locus.catalog.product.deleted.v1',
      data: { id, categoryId },
    });
  });

  it('creates and changes categories with versions; a duplicate name is a conflict', async () => {
    const created = await post('/categories', { name: 'Tools', description: 'Hand tools' });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const patched = await catalog.app.inject({
      method: 'PATCH',
      url: `/categories/${id}`,
      headers: { 'if-match': '"1"' },
      payload: { description: 'Hand and power tools' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Tools', description: 'Hand and power tools', version: 2 });
    expect(patched.headers['locus-consistency-token']).toBe(`category:${id}:2`);
    const duplicate = await post('/categories', { name: 'Tools' });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json<ErrorBody>().details[0]?.field).toBe('body/name');
  });

  it('exports every product by id in pages', async () => {
    const all: { id: string }[] = [];
    let after: string | null = null;
    do {
      const query: string = after ? `?limit=3&after=${after}` : '?limit=3';
      const page = (await catalog.app.inject({ method: 'GET', url: `/export/products${query}` })).json<{
        items: { id: string; version: number }[];
        next: string | null;
      }>();
      all.push(...page.items);
      after = page.next;
    } while (after);
    const ids = (await catalog.db.selectFrom('products').select('id').orderBy('id').execute()).map(
      (r) => r.id,
    );
    expect(all.map((p) => p.id)).toEqual(ids);
    expect(ids.length).toBeGreaterThan(3);
    const tooMany = await catalog.app.inject({ method: 'GET', url: '/export/products?limit=5000' });
    expect(tooMany.statusCode).toBe(400);
  });
});
