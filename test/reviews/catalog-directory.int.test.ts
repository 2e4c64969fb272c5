import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { CircuitState } from 'cockatiel';
import { afterEach, describe, expect, it } from 'vitest';
import { createCatalogDirectory } from '../../src/reviews/product-directory.js';
import { systemClock } from '../../src/shared/clock.js';
import { isLocusError } from '../../src/shared/errors.js';
import { startFakeCatalog, type FakeCatalog } from './support.js';

/** The product check against a real HTTP server standing in for the catalog service's API. */
describe('catalog product directory (cockatiel timeout, retry, breaker)', () => {
  const catalogs: FakeCatalog[] = [];
  afterEach(async () => {
    await Promise.allSettled(catalogs.splice(0).map((c) => c.close()));
  });

  const codeOf = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    return isLocusError(error) ? error.code : String(error);
  };

  it('accepts a known product and refuses an unknown one with LOCUS_PRODUCT_NOT_FOUND, without retrying the 404', async () => {
    const catalog = await startFakeCatalog();
    catalogs.push(catalog);
    const known = randomUUID();
    catalog.known.add(known);
    const directory = createCatalogDirectory({ baseUrl: catalog.url, clock: systemClock, cacheTtlMs: 0 });

    await expect(directory.assertExists(known)).resolves.toBeUndefined();
    const before = catalog.calls;
    expect(await codeOf(directory.assertExists(randomUUID()))).toBe('LOCUS_PRODUCT_NOT_FOUND');
    expect(catalog.calls - before).toBe(1);
    expect(directory.breaker.state).toBe(CircuitState.Closed);
  });

  it('fails fast with 503 when the catalog is down, then opens the breaker and stops calling it', async () => {
    // given a catalog that was up and is now gone (connection refused)
    const catalog = await startFakeCatalog();
    const url = catalog.url;
    await catalog.close();
    const directory = createCatalogDirectory({
      baseUrl: url,
      clock: systemClock,
      breakerThreshold: 3,
      halfOpenAfterMs: 60_000,
      cacheTtlMs: 0,
    });

    // when a review needs the catalog
    const started = Date.now();
    expect(await codeOf(directory.assertExists(randomUUID()))).toBe('LOCUS_BACKEND_UNAVAILABLE');
    // then the answer is a 503 within the retry budget (2 backoffs), not a long hang
    expect(Date.now() - started).toBeLessThan(1_500);

    // and after three failed calls the breaker is open: the next call fails at once without a request
    expect(directory.breaker.state).toBe(CircuitState.Open);
    const openStarted = Date.now();
    expect(await codeOf(directory.assertExists(randomUUID()))).toBe('LOCUS_CIRCUIT_OPEN');
    expect(Date.now() - openStarted).toBeLessThan(50);
  });

  it('times out a hanging catalog per attempt and answers 503 LOCUS_BACKEND_UNAVAILABLE', async () => {
    const catalog = await startFakeCatalog();
    catalogs.push(catalog);
    catalog.mode = 'hang';
    const directory = createCatalogDirectory({
      baseUrl: catalog.url,
      clock: systemClock,
      timeoutMs: 150,
      maxAttempts: 2,
      cacheTtlMs: 0,
    });
    const started = Date.now();
    expect(await codeOf(directory.assertExists(randomUUID()))).toBe('LOCUS_BACKEND_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(catalog.calls).toBe(2);
  });

  it('retries a failing catalog and succeeds when it recovers within the retries', async () => {
    const catalog = await startFakeCatalog();
    catalogs.push(catalog);
    const id = randomUUID();
    catalog.known.add(id);
    catalog.failNext = 2;
    const directory = createCatalogDirectory({
      baseUrl: catalog.url,
      clock: systemClock,
      maxAttempts: 3,
      cacheTtlMs: 0,
    });
    await expect(directory.assertExists(id)).resolves.toBeUndefined();
    expect(catalog.calls).toBe(3);
  });

  it('closes the breaker again after the half-open trial succeeds', async () => {
    const catalog = await startFakeCatalog();
    catalogs.push(catalog);
    const id = randomUUID();
    catalog.known.add(id);
    catalog.mode = 'fail';
    const directory = createCatalogDirectory({
      baseUrl: catalog.url,
      clock: systemClock,
      maxAttempts: 1,
      breakerThreshold: 2,
      halfOpenAfterMs: 200,
      cacheTtlMs: 0,
    });
    expect(await codeOf(directory.assertExists(id))).toBe('LOCUS_BACKEND_UNAVAILABLE');
    expect(await codeOf(directory.assertExists(id))).toBe('LOCUS_BACKEND_UNAVAILABLE');
    expect(await codeOf(directory.assertExists(id))).toBe('LOCUS_CIRCUIT_OPEN');
    catalog.mode = 'ok';
    await sleep(250);
    await expect(directory.assertExists(id)).resolves.toBeUndefined();
    expect(directory.breaker.state).toBe(CircuitState.Closed);
  });

  it('answers new reviews with 503 (then circuit open, Retry-After) while the catalog is down; edits keep working', async () => {
    const { startReviewsFixture, aReview } = await import('./support.js');
    const fx = await startReviewsFixture({ breakerThreshold: 3, halfOpenAfterMs: 30_000 });
    try {
      const productId = fx.newProduct();
      const existing = await fx.app.inject({
        method: 'POST',
        url: `/products/${productId}/reviews`,
        payload: aReview,
      });
      await fx.catalog.close();
      const first = await fx.app.inject({
        method: 'POST',
        url: `/products/${productId}/reviews`,
        payload: aReview,
      });
      expect(first.statusCode).toBe(503);
      expect(first.json()).toMatchObject({ code: 'LOCUS_BACKEND_UNAVAILABLE' });
      const second = await fx.app.inject({
        method: 'POST',
        url: `/products/${productId}/reviews`,
        payload: aReview,
      });
      expect(second.statusCode).toBe(503);
      expect(second.json()).toMatchObject({ code: 'LOCUS_CIRCUIT_OPEN' });
      expect(second.headers['retry-after']).toBe('30');
      // reviews that exist need no catalog: editing one still works
      const edit = await fx.app.inject({
        method: 'PATCH',
        url: `/reviews/${existing.json<{ id: string }>().id}`,
        payload: { rating: 1 },
      });
      expect(edit.statusCode).toBe(200);
    } finally {
      await fx.close();
    }
  });
});
