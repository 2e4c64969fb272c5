import Type from 'typebox';
import type { HttpServer } from '../shared/http-server.js';
import { ErrorBody } from '../shared/error-body.js';
import { LocusError } from '../shared/errors.js';
import type { RelayDeadLetter, RelayDeadLetterStore } from './relay-dead-letters.js';

const DeadLetterBody = Type.Object({
  source: Type.String(),
  id: Type.String(),
  topic: Type.String(),
  key: Type.String(),
  eventType: Type.Union([Type.String(), Type.Null()]),
  aggregateVersion: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.String(),
  parkedAt: Type.String({ format: 'date-time' }),
  waiting: Type.Integer(),
});

const Resolution = Type.Object({
  source: Type.String(),
  id: Type.String(),
  status: Type.Union([Type.Literal('retrying'), Type.Literal('skipped')]),
});

function toRelayDeadLetterBody(letter: RelayDeadLetter) {
  return { ...letter, parkedAt: letter.parkedAt.toISOString() };
}

/**
 * Lists every source's dead letters, oldest first within a source.
 * @example await listRelayDeadLetters(stores, 100)
 */
export async function listRelayDeadLetters(
  stores: ReadonlyMap<string, RelayDeadLetterStore>,
  limit: number,
): Promise<RelayDeadLetter[]> {
  const lists = await Promise.all([...stores.values()].map((store) => store.list(limit)));
  return lists.flat().slice(0, limit);
}

/**
 * Retries or skips a dead letter of `source`.
 * @throws LocusError LOCUS_NOT_FOUND (unknown source, or no such parked event).
 */
export async function resolveRelayDeadLetter(
  stores: ReadonlyMap<string, RelayDeadLetterStore>,
  source: string,
  id: string,
  action: 'retry' | 'skip',
): Promise<{ source: string; id: string; status: 'retrying' | 'skipped' }> {
  const store = stores.get(source);
  if (!store) throw new LocusError('LOCUS_NOT_FOUND', `no outbox source "${source}"`);
  const done = action === 'retry' ? await store.retry(id) : await store.skip(id);
  if (!done) throw new LocusError('LOCUS_NOT_FOUND', `no parked event ${id} in the ${source} outbox`);
  return { source, id, status: action === 'retry' ? 'retrying' : 'skipped' };
}

/**
 * Operator routes of the relay (port 8084): its dead letters, as the projector's. A retry hands the
 * event back to the relay loop (published in a moment, or parked again with the new reason); a skip
 * gives it up. Either way the events of its key waiting behind it flow again.
 */
export function registerRelayAdminRoutes(
  app: HttpServer,
  stores: ReadonlyMap<string, RelayDeadLetterStore>,
): void {
  app.get(
    '/admin/dead-letters',
    {
      schema: {
        summary: 'List the outbox events the relay parked, oldest first',
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }),
        response: { 200: Type.Object({ items: Type.Array(DeadLetterBody) }), 400: ErrorBody },
      },
    },
    async (request) => ({
      items: (await listRelayDeadLetters(stores, request.query.limit)).map(toRelayDeadLetterBody),
    }),
  );

  const Params = Type.Object({ source: Type.String({ maxLength: 64 }), id: Type.String({ maxLength: 64 }) });
  for (const action of ['retry', 'skip'] as const) {
    app.post(
      `/admin/dead-letters/:source/:id/${action}`,
      {
        schema: {
          summary:
            action === 'retry'
              ? 'Hand a parked event back to the relay, ahead of the events waiting behind it'
              : 'Give up on a parked event; the events waiting behind it are published',
          params: Params,
          response: { 200: Resolution, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => resolveRelayDeadLetter(stores, request.params.source, request.params.id, action),
    );
  }
}
