import { describe, expect, it } from 'vitest';
import { canonicalJson, requestFingerprint } from '../../src/catalog/fingerprint.js';
import { assertVersion, expectedVersion, writeHeaders } from '../../src/catalog/versioning.js';
import { isLocusError } from '../../src/shared/errors.js';

describe('request fingerprint', () => {
  it('ignores key order but not values, routes or methods', () => {
    const a = { sku: 'A', price: { amount: 1, currency: 'EUR' } };
    const reordered = { price: { currency: 'EUR', amount: 1 }, sku: 'A' };
    expect(canonicalJson(a)).toBe(canonicalJson(reordered));
    expect(requestFingerprint('POST', '/products', a)).toBe(
      requestFingerprint('POST', '/products', reordered),
    );
    expect(requestFingerprint('POST', '/products', a)).not.toBe(
      requestFingerprint('POST', '/products', { ...a, sku: 'B' }),
    );
    expect(requestFingerprint('POST', '/products', a)).not.toBe(requestFingerprint('POST', '/categories', a));
  });

  it('keeps array order', () => {
    expect(canonicalJson({ tags: ['a', 'b'] })).not.toBe(canonicalJson({ tags: ['b', 'a'] }));
  });
});

describe('If-Match', () => {
  it.each([
    ['"3"', 3],
    ['W/"3"', 3],
    ['12', 12],
    ['*', undefined],
    [undefined, undefined],
  ])('reads %s as %s', (header, version) => {
    expect(expectedVersion(header)).toBe(version);
  });

  // The document's pattern has no leading zero: the fuzz run sent '"0"', which it allowed then.
  it.each(['"0"', 'abc', '"3', '"-1"', '"007"', '0', 'W/"0"', '"1234567890123456"'])(
    'refuses %s naming the header',
    (header) => {
      try {
        expectedVersion(header);
        expect.unreachable();
      } catch (error) {
        expect(isLocusError(error) && error.details[0]?.field).toBe('headers/if-match');
      }
    },
  );

  it('conflicts only when a version was expected and differs', () => {
    expect(() => assertVersion(undefined, 4, 'product p')).not.toThrow();
    expect(() => assertVersion(4, 4, 'product p')).not.toThrow();
    expect(() => assertVersion(3, 4, 'product p')).toThrow(/version 4, not 3/);
  });

  it('gives the version as ETag and consistency token', () => {
    expect(writeHeaders('product', '3f0c0000-0000-4000-8000-000000000001', 4)).toEqual({
      etag: '"4"',
      'locus-consistency-token': 'product:3f0c0000-0000-4000-8000-000000000001:4',
    });
  });
});
