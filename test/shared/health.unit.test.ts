import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHttpServer,
  degraded,
  type HealthCheck,
  type HttpServer,
} from '../../src/shared/http-server.js';
import { createLogger } from '../../src/shared/logger.js';

describe('GET /health', () => {
  let app: HttpServer | undefined;

  afterEach(() => app?.close());

  const serve = async (healthChecks: HealthCheck[]) => {
    app = await createHttpServer({
      name: 'test',
      description: 'test',
      logger: createLogger('test', 'silent'),
      metrics: new Registry(),
      healthChecks,
    });
    return app.inject({ method: 'GET', url: '/health' });
  };
  const up: HealthCheck = { name: 'up', check: async () => 'fine' };
  const parked: HealthCheck = { name: 'parked', check: async () => degraded('2 dead letters parked') };
  const down: HealthCheck = { name: 'down', check: () => Promise.reject(new Error('no store')) };

  it('given every check passes, when /health is read, then it is 200 ok', async () => {
    const response = await serve([up]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'ok', checks: { up: { ok: true, detail: 'fine' } } });
  });

  it('given a check reports degraded, when /health is read, then it is 200 with top-level status degraded', async () => {
    const response = await serve([up, parked]);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'degraded',
      checks: {
        up: { ok: true, status: 'ok' },
        parked: { ok: true, status: 'degraded', detail: '2 dead letters parked' },
      },
    });
  });

  it('given one check degraded and one failing, when /health is read, then it is 503 fail', async () => {
    const response = await serve([parked, down]);
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      status: 'fail',
      checks: { down: { ok: false, status: 'fail', detail: 'no store' } },
    });
  });
});
