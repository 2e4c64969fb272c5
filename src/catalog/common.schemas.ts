import Type from 'typebox';
import { VERSION_TEXT_PATTERN } from '../contracts/bounds.js';
import { ErrorBody } from '../shared/error-body.js';

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Headers of a conditional write (PUT, PATCH, DELETE). */
export const ConditionalHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({ pattern: `^(\\*|(W/)?("${VERSION_TEXT_PATTERN}"|${VERSION_TEXT_PATTERN}))$` }),
  ),
});

/** Headers of a create (POST). */
export const IdempotentHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});

/** Error responses every write route may give. */
export const writeErrors = {
  400: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  412: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  422: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
} as const;

/** Query of the export endpoints: keyset pagination by id. */
export const ExportQuery = Type.Object(
  {
    after: Type.Optional(Type.String({ format: 'uuid' })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);
