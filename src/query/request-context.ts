import type { FastifyReply, FastifyRequest } from 'fastify';
import { LocusError } from '../shared/errors.js';
import type { Clock } from '../shared/clock.js';
import type { Window } from './analytics.types.js';
import { ALLOW_PRIMARY_HEADER, awaitConsistency, consistencyTokenOf } from './consistency.js';
import { deadlineFromHeader, type Deadline } from './deadline.js';
import type { ReadBackend, ReadStore } from './read-store.js';
import { CONSISTENCY_TOKEN_HEADER } from '../contracts/consistency-token.js';

export interface RequestSettings {
  defaultDeadlineMs: number;
  exportDeadlineMs: number;
  maxDeadlineMs: number;
  consistencyWaitMs: number;
  /** Longest analytics window, in days. */
  maxWindowDays: number;
  /** Default analytics window, in days, ending now. */
  defaultWindowDays: number;
  /** An export client that reads nothing for this long is disconnected (LOCUS_QUERY_EXPORT_IDLE_MS). */
  exportIdleMs: number;
}

export interface RequestContext {
  deadline: Deadline;
  /** Set when a consistency token pinned the backend the request must read. */
  requiredBackend: ReadBackend | undefined;
}

/**
 * What every query request does first: takes its deadline, then — when it carries a consistency token
 * — waits (bounded) until the view shows that version. Heavy requests may only read the replica.
 */
export async function beginRequest(
  request: FastifyRequest,
  store: ReadStore,
  settings: RequestSettings,
  options: { heavy: boolean; defaultDeadlineMs?: number },
): Promise<RequestContext> {
  const deadline = deadlineFromHeader(
    request.headers['locus-deadline-ms'],
    options.defaultDeadlineMs ?? settings.defaultDeadlineMs,
    settings.maxDeadlineMs,
  );
  const token = consistencyTokenOf(
    request.headers[CONSISTENCY_TOKEN_HEADER],
    (request.query as { consistencyToken?: string } | undefined)?.consistencyToken,
  );
  if (!token) return { deadline, requiredBackend: undefined };
  const allowPrimary =
    !options.heavy && String(request.headers[ALLOW_PRIMARY_HEADER]).toLowerCase() === 'true';
  const requiredBackend = await awaitConsistency(store, deadline, token, {
    waitMs: settings.consistencyWaitMs,
    allowPrimary,
  });
  return { deadline, requiredBackend };
}

/**
 * Says how the response was served, so staleness is never invisible:
 * - `Locus-Backend`: replica or primary;
 * - `Locus-Replica-Status`: what the replica was at its last probe (streaming, disconnected,
 *   not-in-recovery, hidden, unreachable);
 * - `Locus-Staleness`: `none` when the read primary answered; `measured` when the replica answered
 *   with a known lag, then given in `Locus-Replica-Lag-Ms`; `unknown` when the replica answered and
 *   its lag could not be known;
 * - `Locus-Projector-Commit-Age-Ms` once the projector has committed: the age of its newest commit on
 *   the replica (the projector's own Kafka lag is not visible from the read store).
 */
export function setReadHeaders(reply: FastifyReply, store: ReadStore, backend: ReadBackend): void {
  reply.header('locus-backend', backend);
  const { status, freshness } = store.lastReading();
  if (status !== undefined) reply.header('locus-replica-status', status);
  const lagMs = freshness?.lagMs ?? null;
  if (backend === 'primary') {
    reply.header('locus-staleness', 'none');
  } else if (lagMs === null) {
    reply.header('locus-staleness', 'unknown');
  } else {
    reply.header('locus-staleness', 'measured');
    reply.header('locus-replica-lag-ms', String(Math.round(lagMs)));
  }
  const commitAgeMs = freshness?.projectorCommitAgeMs ?? null;
  if (commitAgeMs !== null) {
    reply.header('locus-projector-commit-age-ms', String(Math.round(commitAgeMs)));
  }
}

const DAY_MS = 86_400_000;

/**
 * The analytics window `[from, to)`: defaults to the last `defaultWindowDays` days ending now.
 * @throws LocusError LOCUS_VALIDATION naming `from` when from >= to, or `to` when the window is longer
 *   than `maxWindowDays`.
 */
export function windowOf(
  query: { from?: string; to?: string },
  clock: Clock,
  settings: RequestSettings,
): Window {
  const to = query.to ? new Date(query.to) : clock.now();
  const from = query.from
    ? new Date(query.from)
    : new Date(to.getTime() - settings.defaultWindowDays * DAY_MS);
  if (from.getTime() >= to.getTime()) {
    throw new LocusError('LOCUS_VALIDATION', 'from: must be earlier than to', {
      details: [{ field: 'querystring/from', message: 'must be earlier than to' }],
    });
  }
  if (to.getTime() - from.getTime() > settings.maxWindowDays * DAY_MS) {
    throw new LocusError(
      'LOCUS_VALIDATION',
      `to: the window may span at most ${settings.maxWindowDays} days`,
      {
        details: [{ field: 'querystring/to', message: `window longer than ${settings.maxWindowDays} days` }],
      },
    );
  }
  return { from, to };
}
