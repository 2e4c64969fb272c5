import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { consistencyTokenOf } from '../../src/query/consistency.js';
import { isLocusError } from '../../src/shared/errors.js';

function refusalOf(text: string): unknown {
  try {
    consistencyTokenOf(undefined, text);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('consistency token of a read', () => {
  it('takes a token naming a UUID, from the header before the query string', () => {
    const id = randomUUID();
    expect(consistencyTokenOf(`review:${id}:3`, `product:${randomUUID()}:1`)).toEqual({
      aggregateType: 'review',
      aggregateId: id,
      version: 3,
    });
    expect(consistencyTokenOf(undefined, '')).toBeUndefined();
  });

  // Found by the fuzz run (scripts/fuzz/run.sh): 36 characters of hex digits and dashes that are no
  // UUID reached the uuid column of applied_versions, and every query route answered 500.
  it.each([
    'product:000000000000000000000000000000000000:1',
    'review:a74C2C71c53B7b474e1BF5f-dFc7BbCB4c36:433001',
    'category:------------------------------------:2',
  ])('refuses %s with 400 naming consistencyToken, before any SQL', (text) => {
    const error = refusalOf(text);
    expect(isLocusError(error) && error.code).toBe('LOCUS_VALIDATION');
    expect(isLocusError(error) && error.details[0]?.field).toBe('consistencyToken');
  });
});
