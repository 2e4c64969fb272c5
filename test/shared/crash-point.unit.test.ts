import { describe, expect, it } from 'vitest';
import { parseCrashSpec } from '../../src/shared/crash-point.js';

describe('parseCrashSpec (LOCUS_CRASH_AT)', () => {
  it('given nothing, then no crash point is armed', () => {
    expect(parseCrashSpec(undefined)).toBeUndefined();
    expect(parseCrashSpec('')).toBeUndefined();
  });

  it('given a name, then it dies the first time; given name:n, the n-th time', () => {
    expect(parseCrashSpec('projector.after-commit')).toEqual({ name: 'projector.after-commit', nth: 1 });
    expect(parseCrashSpec('projector.before-commit:3')).toEqual({ name: 'projector.before-commit', nth: 3 });
  });

  it('given a malformed value or n = 0, then it refuses to start instead of silently not crashing', () => {
    for (const value of ['projector after', 'x:0', 'x:-1', 'x:two', ':3'])
      expect(() => parseCrashSpec(value), value).toThrow(/LOCUS_CRASH_AT/);
  });

  it('given a malformed LOCUS_PAUSE_AT, then the error names that setting', () => {
    expect(parseCrashSpec('projector.before-open:2', 'LOCUS_PAUSE_AT')).toEqual({
      name: 'projector.before-open',
      nth: 2,
    });
    expect(() => parseCrashSpec('x:0', 'LOCUS_PAUSE_AT')).toThrow(/LOCUS_PAUSE_AT/);
  });
});
