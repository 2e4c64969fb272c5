import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline, type Pipeline } from '../e2e/pipeline.fixture.js';
import { createCatalogDirectory } from '../../src/reviews/product-directory.js';
import { systemClock } from '../../src/shared/clock.js';
import { startFakeCatalog } from '../reviews/support.js';

const token = () => randomBytes(24).toString('base64url');
/** One token per scope, a service token (export, for the composition) and one nobody issued. */
const TOKENS = {
  catalogWriter: token(),
  reviewsWriter: token(),
  exporter: token(),
  admin: token(),
  reader: token(),
  service: token(),
  unknown: token(),
};
const API_TOKENS = [
  { name: 'catalog-writer', token: TOKENS.catalogWriter, scopes: ['catalog:write'] },
  { name: 'reviews-writer', token: TOKENS.reviewsWriter, scopes: ['reviews:write'] },
  { name: 'exporter', token: TOKENS.exporter, scopes: ['export'] },
  { name: 'operator', token: TOKENS.admin, scopes: ['admin'] },
  { name: 'reader', token: TOKENS.reader, scopes: ['read'] },
  { name: 'services', token: TOKENS.service, scopes: ['export'] },
];

interface Answer {
  status: number;
  challenge: string | null;
  body: { code?: string; message?: string; details?: unknown[] } & Record<string, unknown>;
}

async function ask(method: string, url: string, bearer?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: Answer['body'] = {};
  try {
    parsed = JSON.parse(text.split('\n')[0] ?? '') as Answer['body'];
  } catch {
    parsed = { text };
  }
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body: parsed };
}

/** A protected route: no token → 401 with the challenge, an unknown token → 401, `wrong` → 403, `right` → `ok`. */
async function expectGuarded(
  method: string,
  url: string,
  tokens: { wrong: string; right: string; ok: number },
  body?: () => unknown,
): Promise<void> {
  const none = await ask(method, url, undefined, body?.());
  expect(none.status, `${method} ${url} without a token`).toBe(401);
  expect(none.challenge).toMatch(/^Bearer realm="locus"$/);
  expect(none.body.code).toBe('LOCUS_UNAUTHORIZED');
  expect(none.body.details).toEqual([expect.objectContaining({ field: 'headers/authorization' })]);
  const unknown = await ask(method, url, TOKENS.unknown, body?.());
  expect(unknown.status, `${method} ${url} with an unknown token`).toBe(401);
  expect(unknown.challenge).toContain('error="invalid_token"');
  const wrong = await ask(method, url, tokens.wrong, body?.());
  expect(wrong.status, `${method} ${url} with the wrong scope`).toBe(403);
  expect(wrong.body.code).toBe('LOCUS_FORBIDDEN');
  expect(wrong.challenge).toContain('error="insufficient_scope"');
  const right = await ask(method, url, tokens.right, body?.());
  expect(right.status, `${method} ${url} with the right scope: ${JSON.stringify(right.body)}`).toBe(
    tokens.ok,
  );
}

describe('bearer tokens with scopes on every protected route family (five real processes)', () => {
  let pipeline: Pipeline;
  let productId: string;

  beforeAll(async () => {
    pipeline = await startPipeline({
      LOCUS_DEV_TOKEN: '',
      LOCUS_API_TOKENS: JSON.stringify(API_TOKENS),
      LOCUS_SERVICE_TOKEN: TOKENS.service,
      LOCUS_QUERY_READS: 'token',
      LOCUS_QUERY_COMPOSITION: 'on',
      LOCUS_LOG_LEVEL: 'info',
    });
    const created = await ask('POST', `${pipeline.urls.catalog}/categories`, TOKENS.catalogWriter, {
      name: 'kettles',
    });
    expect(created.status).toBe(201);
    const product = await ask('POST', `${pipeline.urls.catalog}/products`, TOKENS.catalogWriter, {
      sku: `SKU-${randomUUID().slice(0, 8)}`,
      name: 'Kettle',
      description: 'Boils water',
      price: { amount: 2999, currency: 'EUR' },
      attributes: {},
    });
    expect(product.status).toBe(201);
    productId = product.body.id as string;
  }, 180_000);

  afterAll(async () => {
    await pipeline?.close();
  }, 60_000);

  it('catalog writes need catalog:write', async () => {
    await expectGuarded(
      'POST',
      `${pipeline.urls.catalog}/categories`,
      {
        wrong: TOKENS.reviewsWriter,
        right: TOKENS.catalogWriter,
        ok: 201,
      },
      () => ({ name: `c-${randomUUID().slice(0, 8)}` }),
    );
    // reads of the catalog stay open
    expect((await ask('GET', `${pipeline.urls.catalog}/products/${productId}`)).status).toBe(200);
  });

  it('reviews writes need reviews:write; the product check reaches the catalog', async () => {
    const review = () => ({ author: 'ada', rating: 4, title: 'Solid', body: 'Does what it says.' });
    await expectGuarded(
      'POST',
      `${pipeline.urls.reviews}/products/${productId}/reviews`,
      {
        wrong: TOKENS.catalogWriter,
        right: TOKENS.reviewsWriter,
        ok: 201,
      },
      review,
    );
  });

  it('exports need export: catalog, reviews and the query service', async () => {
    const guard = { wrong: TOKENS.admin, right: TOKENS.exporter, ok: 200 };
    await expectGuarded('GET', `${pipeline.urls.catalog}/export/products`, guard);
    await expectGuarded('GET', `${pipeline.urls.catalog}/export/categories`, guard);
    await expectGuarded('GET', `${pipeline.urls.reviews}/export/reviews`, guard);
    await expectGuarded('GET', `${pipeline.urls.query}/analytics/export?strategy=locality`, guard);
  });

  it('the composition strategy carries the query service token to the owners exports', async () => {
    const composed = await ask(
      'GET',
      `${pipeline.urls.query}/analytics/export?strategy=composition`,
      TOKENS.exporter,
    );
    expect(composed.status, JSON.stringify(composed.body)).toBe(200);
  });

  it('projector and relay admin routes need admin', async () => {
    const guard = { wrong: TOKENS.exporter, right: TOKENS.admin };
    await expectGuarded('GET', `${pipeline.urls.projector}/admin/dead-letters`, { ...guard, ok: 200 });
    await expectGuarded('GET', `${pipeline.urls.projector}/admin/rebuild`, { ...guard, ok: 200 });
    await expectGuarded('POST', `${pipeline.urls.projector}/admin/dead-letters/999999/retry`, {
      ...guard,
      ok: 404,
    });
    await expectGuarded('GET', `${pipeline.urls.relay}/admin/dead-letters`, { ...guard, ok: 200 });
    await expectGuarded('POST', `${pipeline.urls.relay}/admin/dead-letters/catalog/42/skip`, {
      ...guard,
      ok: 404,
    });
  });

  it('closed reads (LOCUS_QUERY_READS=token) need read; health, metrics and docs stay open', async () => {
    await expectGuarded('GET', `${pipeline.urls.query}/products`, {
      wrong: TOKENS.catalogWriter,
      right: TOKENS.reader,
      ok: 200,
    });
    for (const url of Object.values(pipeline.urls)) {
      expect((await ask('GET', `${url}/health`)).status, url).toBe(200);
      expect((await ask('GET', `${url}/metrics`)).status, url).toBe(200);
    }
    const docs = await ask('GET', `${pipeline.urls.catalog}/documentation/json`);
    expect(docs.status).toBe(200);
    const components = docs.body.components as { securitySchemes?: Record<string, unknown> };
    expect(components.securitySchemes).toEqual({ bearer: { type: 'http', scheme: 'bearer' } });
    const paths = docs.body.paths as Record<
      string,
      Record<string, { security?: unknown; responses: object }>
    >;
    expect(paths['/categories']?.post?.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(paths['/categories']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['401', '403']),
    );
    expect(paths['/products']?.get?.security).toBeUndefined();
  });

  it('no token, right or wrong, reaches any process log', async () => {
    const logs = readdirSync(pipeline.logDir)
      .map((file) => readFileSync(path.join(pipeline.logDir, file), 'utf8'))
      .join('\n');
    // the processes did log at info (the startup line naming the accepted tokens, and refusals)
    expect(logs).toContain('accept these API tokens');
    expect(logs).toContain('unauthorized');
    for (const [name, value] of Object.entries(TOKENS)) expect(logs.includes(value), name).toBe(false);
  });
});

describe('the reviews service product check', () => {
  it('sends the service token to the catalog', async () => {
    const catalog = await startFakeCatalog();
    try {
      const productId = randomUUID();
      catalog.known.add(productId);
      const directory = createCatalogDirectory({
        baseUrl: catalog.url,
        clock: systemClock,
        token: TOKENS.service,
      });
      await directory.assertExists(productId);
      expect(catalog.authorization).toBe(`Bearer ${TOKENS.service}`);
    } finally {
      await catalog.close();
    }
  });
});
