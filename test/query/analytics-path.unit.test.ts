import { describe, expect, it } from 'vitest';
import { chooseAnalyticsPath, wholeUtcDays } from '../../src/query/analytics.path.js';

const window = (from: string, to: string) => ({ from: new Date(from), to: new Date(to) });

describe('the path of a heavy procedure', () => {
  it('counts the whole UTC days inside a window', () => {
    expect(wholeUtcDays(window('2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z'))).toBe(1);
    expect(wholeUtcDays(window('2026-03-01T00:00:00.001Z', '2026-03-03T00:00:00Z'))).toBe(1);
    expect(wholeUtcDays(window('2026-03-01T12:00:00Z', '2026-03-02T12:00:00Z'))).toBe(0);
    expect(wholeUtcDays(window('2026-03-01T02:00:00Z', '2026-03-01T22:00:00Z'))).toBe(0);
    expect(wholeUtcDays(window('2025-03-01T17:00:00Z', '2026-03-01T05:00:00Z'))).toBe(364);
  });

  it('auto takes the rollups from one whole day on, the raw path below; a fixed choice stands', () => {
    expect(chooseAnalyticsPath(window('2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z'))).toBe('rollup');
    expect(chooseAnalyticsPath(window('2026-03-01T12:00:00Z', '2026-03-02T12:00:00Z'))).toBe('raw');
    expect(chooseAnalyticsPath(window('2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z'), 'raw')).toBe('raw');
    expect(chooseAnalyticsPath(window('2026-03-01T02:00:00Z', '2026-03-01T03:00:00Z'), 'rollup')).toBe(
      'rollup',
    );
  });
});
