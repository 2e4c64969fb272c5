/**
 * The one rounding rule of every analytics answer, whatever strategy computed it. The stored
 * procedures return unrounded float8 and Node computes the same float8 operations in the same order
 * (IEEE 754 on both sides), so applying this single function last makes the strategies agree to the bit.
 * Rounds half away from zero to `digits` decimals (4 by default), like PostgreSQL's `round(numeric)`.
 * @example round(3.14159) === 3.1416; round(-0.00005) === -0.0001
 */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  // toPrecision(15) removes binary noise (1.00005 stored as 1.0000499999…) before deciding the tie.
  const scaled = Number((Math.abs(value) * factor).toPrecision(15));
  const rounded = Math.round(scaled) / factor;
  return value < 0 ? -rounded : rounded;
}

/** `round` for nullable values (an average over no reviews is null). */
export function roundOrNull(value: number | null, digits = 4): number | null {
  return value === null ? null : round(value, digits);
}
