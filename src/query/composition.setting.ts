import { LocusError } from '../shared/errors.js';

/**
 * Whether the query service serves `strategy=composition`: LOCUS_QUERY_COMPOSITION is `on` or `off`
 * (the default; see config.ts for why).
 * @throws LocusError LOCUS_CONFIG_INVALID for any other value.
 */
export function compositionOf(config: Readonly<{ LOCUS_QUERY_COMPOSITION: string }>): boolean {
  const value = config.LOCUS_QUERY_COMPOSITION;
  if (value !== 'on' && value !== 'off') {
    throw new LocusError('LOCUS_CONFIG_INVALID', `LOCUS_QUERY_COMPOSITION must be on or off, got "${value}"`);
  }
  return value === 'on';
}
