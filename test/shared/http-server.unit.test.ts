import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/shared/http-server.js';
import { createLogger } from '../../src/shared/logger.js';

describe('the shared HTTP server', () => {
  let app: HttpServer;

  beforeAll(async () => {
    app = await createHttpServer({
      name: 'test',
      description: 'test',
      logger: createLogger('test', 'silent'),
      metrics: new Registry(),
      healthChecks: [{ name: 'always-down', check: () => Promise.reject(new Error('down for the test')) }],
    });
    app.get('/refused', () =>
      Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })),
    );
    app.get('/pool-timeout', () => Promise.reject(new Error('timeout exceeded when trying to connect')));
    app.get('/bug', () => Promise.reject(new Error('secret internals: password=hunter2')));
    // `::` is Fastify's literal colon: the path is /items:batch.
    app.post('/items::batch', () => ({}));
    await app.ready();
  });

  afterAll(() => app.close());

  it('answers 503 with Retry-After when a store refuses or the pool is exhausted', async () => {
    for (const url of ['/refused', '/pool-timeout']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json()).toMatchObject({ code: 'LOCUS_BACKEND_UNAVAILABLE' });
    }
  });

  it('never leaks internals in a 500 body', async () => {
    const response = await app.inject({ method: 'GET', url: '/bug' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ code: 'LOCUS_INTERNAL', message: 'internal error', details: [] });
  });

  it('names unknown routes with a code', async () => {
    const response = await app.inject({ method: 'GET', url: '/nope' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'LOCUS_NOT_FOUND' });
  });

  it('answers 405 with Allow for another method on a path with a literal colon', async () => {
    for (const url of ['/items:batch', '/items:batch?dryRun=true']) {
      const response = await app.inject({ method: 'TRACE', url });
      expect(response.statusCode, url).toBe(405);
      expect(response.headers.allow).toBe('POST');
      expect(response.json()).toMatchObject({ code: 'LOCUS_METHOD_NOT_ALLOWED' });
    }
    const unknown = await app.inject({ method: 'TRACE', url: '/items:other' });
    expect(unknown.statusCode).toBe(404);
  });

  it('fails /health when a check fails, naming it', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      status: 'fail',
      checks: { 'always-down': { ok: false, detail: 'down for the test' } },
    });
  });

  it('serves Prometheus metrics, including request durations', async () => {
    await app.inject({ method: 'GET', url: '/nope' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('locus_http_request_duration_seconds_bucket');
  });
});
