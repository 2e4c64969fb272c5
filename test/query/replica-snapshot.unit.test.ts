import { describe, expect, it } from 'vitest';
import { walBytesAhead } from '../../src/query/replica.freshness.js';
import { snapshotSetup } from '../../src/query/replica.snapshot.js';

describe('walBytesAhead', () => {
  it('given two WAL positions, when compared, then it counts the bytes between them across the 4 GB boundary', () => {
    expect(walBytesAhead('0/3000148', '0/3000148')).toBe(0);
    expect(walBytesAhead('0/3000200', '0/3000148')).toBe(0xb8);
    expect(walBytesAhead('1/10', '0/FFFFFFF0')).toBe(0x20);
    expect(walBytesAhead('0/10', '0/20')).toBe(-0x10);
  });

  it('given text that is not a WAL position, when compared, then it throws', () => {
    expect(() => walBytesAhead('3000148', '0/1')).toThrow(RangeError);
  });
});

describe('snapshotSetup', () => {
  it('given a whole number of ms, when built, then it opens the snapshot and sets the timeout in one string', () => {
    expect(snapshotSetup(2500)).toBe(
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 2500',
    );
  });

  it('given anything but a positive integer, when built, then it refuses rather than inline it', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => snapshotSetup(bad)).toThrow(RangeError);
    }
  });
});
