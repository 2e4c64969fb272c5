import Type from 'typebox';
import type pg from 'pg';
import { ErrorBody } from '../shared/error-body.js';
import type { HttpServer } from '../shared/http-server.js';
import { listDeadLetters, type DeadLetter } from './dead-letter.repository.js';
import { retryDeadLetter, skipDeadLetter } from './dead-letter.service.js';
import type { ViewTables } from './projection.types.js';
import type { RebuildProgress } from './rebuild.js';

const DeadLetterBody = Type.Object({
  id: Type.Integer(),
  status: Type.Union([
    Type.Literal('parked'),
    Type.Literal('waiting'),
    Type.Literal('retried'),
    Type.Literal('skipped'),
  ]),
  reason: Type.String(),
  errorCode: Type.String(),
  topic: Type.String(),
  partition: Type.Integer(),
  offset: Type.String(),
  key: Type.Union([Type.String(), Type.Null()]),
  eventType: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  /** The original message bytes as UTF-8 text (events are JSON). */
  value: Type.Union([Type.String(), Type.Null()]),
  headers: Type.Record(Type.String(), Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  resolvedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const Resolution = Type.Object({
  id: Type.Integer(),
  status: Type.Union([Type.Literal('retried'), Type.Literal('skipped'), Type.Literal('parked')]),
  reason: Type.Optional(Type.String()),
  released: Type.Array(Type.Integer()),
  newHead: Type.Optional(Type.Integer()),
  /** Categories whose summary the store refused to recompute; they heal at their next event. */
  staleCategories: Type.Optional(Type.Array(Type.String({ format: 'uuid' }))),
});

const RebuildStatus = Type.Object({
  state: Type.Union([
    Type.Literal('idle'),
    Type.Literal('running'),
    Type.Literal('done'),
    Type.Literal('failed'),
  ]),
  phase: Type.Optional(Type.String()),
  applied: Type.Integer(),
  total: Type.Integer(),
  error: Type.Optional(Type.String()),
});

export interface RebuildControl {
  /** Starts a rebuild in the background; false when one is already running. */
  start(): boolean;
  status(): { state: 'idle' | 'running' | 'done' | 'failed'; progress?: RebuildProgress; error?: string };
}

export function toDeadLetterBody(letter: DeadLetter) {
  return {
    id: letter.id,
    status: letter.status,
    reason: letter.reason,
    errorCode: letter.errorCode,
    topic: letter.topic,
    partition: letter.partition,
    offset: letter.offset,
    key: letter.key,
    eventType: letter.eventType,
    attempts: letter.attempts,
    value: letter.value?.toString('utf8') ?? null,
    headers: letter.headers,
    createdAt: letter.createdAt.toISOString(),
    resolvedAt: letter.resolvedAt?.toISOString() ?? null,
  };
}

/**
 * Operator routes of the projector (port 8083): the dead letters and the rebuild. Retrying or skipping
 * an event is serialised with the live batches by the consumer's advisory lock.
 */
export function registerAdminRoutes(
  app: HttpServer,
  deps: { pool: pg.Pool; consumer: string; tables: ViewTables; rebuild: RebuildControl },
): void {
  app.get(
    '/admin/dead-letters',
    {
      schema: {
        summary: 'List dead letters, oldest first',
        querystring: Type.Object({
          status: Type.Optional(
            Type.Union([
              Type.Literal('parked'),
              Type.Literal('waiting'),
              Type.Literal('retried'),
              Type.Literal('skipped'),
            ]),
          ),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
        }),
        response: { 200: Type.Object({ items: Type.Array(DeadLetterBody) }), 400: ErrorBody },
      },
    },
    async (request) => {
      const letters = await listDeadLetters(deps.pool, deps.consumer, request.query);
      return { items: letters.map(toDeadLetterBody) };
    },
  );

  const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
  app.post(
    '/admin/dead-letters/:id/retry',
    {
      schema: {
        summary: 'Re-apply a parked event, then the events waiting behind it on the same key',
        params: IdParams,
        response: { 200: Resolution, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => retryDeadLetter(deps, request.params.id),
  );
  app.post(
    '/admin/dead-letters/:id/skip',
    {
      schema: {
        summary: 'Give up on a parked event, then apply the events waiting behind it',
        params: IdParams,
        response: { 200: Resolution, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (request) => skipDeadLetter(deps, request.params.id),
  );

  app.post(
    '/admin/rebuild',
    {
      schema: {
        summary: 'Start rebuilding every view from offset 0 into new tables, swapped in when caught up',
        response: { 202: RebuildStatus, 409: RebuildStatus },
      },
    },
    async (_request, reply) => {
      const started = deps.rebuild.start();
      return reply.code(started ? 202 : 409).send(rebuildBody(deps.rebuild));
    },
  );
  app.get(
    '/admin/rebuild',
    { schema: { summary: 'Progress of the current or last rebuild', response: { 200: RebuildStatus } } },
    async () => rebuildBody(deps.rebuild),
  );
}

function rebuildBody(rebuild: RebuildControl) {
  const status = rebuild.status();
  return {
    state: status.state,
    phase: status.progress?.phase,
    applied: status.progress?.applied ?? 0,
    total: status.progress?.total ?? 0,
    ...(status.error ? { error: status.error } : {}),
  };
}
