import Type, { type Static } from 'typebox';

/**
 * The body of every error response, as `http-server.ts` writes it: a `LOCUS_…` code, a message,
 * and per-field details (empty on 5xx, which never leak internals). Routes list it under each
 * error status they may answer, so the OpenAPI document and the response serializer agree.
 */
export const ErrorBody = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Array(Type.Object({ field: Type.Optional(Type.String()), message: Type.String() })),
});

export type ErrorBody = Static<typeof ErrorBody>;
