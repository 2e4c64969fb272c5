import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ADMIN_AUTH, registerAuth } from '../../src/shared/auth.js';
import type { ApiToken } from '../../src/shared/auth.tokens.js';
import { createHttpServer, type HttpServer } from '../../src/shared/http-server.js';
import { createMetricsRegistry } from '../../src/shared/metrics.js';

const OPERATOR: ApiToken = { name: 'operator', token: 'o'.repeat(32), scopes: ['admin'] };

/** A server with one admin route behind the token check, and the lines it logged. */
async function adminServer(tokens: ApiToken[]): Promise<{ app: HttpServer; logs: string[] }> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const app = await createHttpServer({
    name: 'auth-test',
    description: 'auth',
    logger: pino({ level: 'info' }, sink),
    metrics: createMetricsRegistry('auth_test'),
  });
  await registerAuth(app, tokens, ADMIN_AUTH);
  app.post('/admin/rebuild', { schema: { response: { 202: { type: 'object' } } } }, async (_r, reply) =>
    reply.code(202).send({}),
  );
  await app.ready();
  return { app, logs };
}

describe('registerAuth', () => {
  it('given no tokens, refuses the protected routes with 401, says so at startup, keeps /health open', async () => {
    const { app, logs } = await adminServer([]);
    const refused = await app.inject({ method: 'POST', url: '/admin/rebuild' });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="locus"');
    expect(refused.json()).toMatchObject({ code: 'LOCUS_UNAUTHORIZED' });
    expect(logs.join('')).toMatch(/no API tokens configured .*answers 401/);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    await app.close();
  });

  it('lets the right token through, and documents the scheme, the 401 and the 403', async () => {
    const { app, logs } = await adminServer([OPERATOR]);
    const accepted = await app.inject({
      method: 'POST',
      url: '/admin/rebuild',
      headers: { authorization: `Bearer ${OPERATOR.token}` },
    });
    expect(accepted.statusCode).toBe(202);
    const document = (await app.inject({ method: 'GET', url: '/documentation/json' })).json<{
      components: { securitySchemes: unknown };
      paths: Record<string, { post: { security: unknown; responses: Record<string, unknown> } }>;
    }>();
    expect(document.components.securitySchemes).toEqual({ bearer: { type: 'http', scheme: 'bearer' } });
    const rebuild = document.paths['/admin/rebuild']!.post;
    expect(rebuild.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(rebuild.responses)).toEqual(expect.arrayContaining(['202', '401', '403']));
    expect(logs.join('')).not.toContain(OPERATOR.token);
    await app.close();
  });
});
