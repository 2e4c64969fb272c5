import { LocusError } from '../shared/errors.js';
import { isUuid } from '../shared/uuid.js';
import { VERSION_TEXT_PATTERN } from './bounds.js';
import { AGGREGATE_TYPES, type AggregateType } from './envelope.js';

/**
 * What identifies one accepted write: the aggregate and the version the write produced. The write
 * services return it in the `Locus-Consistency-Token` response header; the query service, given it
 * back (same header, or `?consistencyToken=`), answers only once the view reflects that version.
 * Form: `<aggregateType>:<aggregateId>:<version>`, e.g. `product:3f0c…:4`.
 */
export interface ConsistencyToken {
  aggregateType: AggregateType;
  aggregateId: string;
  version: number;
}

export const CONSISTENCY_TOKEN_HEADER = 'locus-consistency-token';

export function formatConsistencyToken(token: ConsistencyToken): string {
  return `${token.aggregateType}:${token.aggregateId}:${token.version}`;
}

const VERSION_TEXT = new RegExp(`^${VERSION_TEXT_PATTERN}$`);

/**
 * @throws LocusError LOCUS_VALIDATION naming the token when it is malformed, or its version is not
 *   one a write service hands out (`1e3`, 31 digits).
 */
export function parseConsistencyToken(text: string): ConsistencyToken {
  const [aggregateType, aggregateId, versionText, ...rest] = text.split(':');
  if (
    rest.length > 0 ||
    !AGGREGATE_TYPES.includes(aggregateType as AggregateType) ||
    !aggregateId ||
    !isUuid(aggregateId) ||
    !VERSION_TEXT.test(versionText ?? '')
  ) {
    throw new LocusError('LOCUS_VALIDATION', `consistencyToken: malformed token "${text}"`, {
      details: [
        { field: 'consistencyToken', message: 'expected <product|category|review>:<uuid>:<version>' },
      ],
    });
  }
  return { aggregateType: aggregateType as AggregateType, aggregateId, version: Number(versionText) };
}
