import { Presets, SingleBar } from 'cli-progress';
import type pg from 'pg';
import { LocusError } from '../shared/errors.js';
import { toDeadLetterBody } from './admin.routes.js';
import { listDeadLetters } from './dead-letter.repository.js';
import { retryDeadLetter, skipDeadLetter } from './dead-letter.service.js';
import type { ViewTables } from './projection.types.js';
import { rebuildViews, type RebuildOptions } from './rebuild.js';

/**
 * `locus projector rebuild`: replays every topic into new tables and swaps them in, with a progress
 * bar. Works beside a running projector: the swap takes the live consumer's advisory lock.
 */
export async function rebuildCommand(options: Omit<RebuildOptions, 'onProgress'>): Promise<void> {
  const bar = new SingleBar(
    { format: 'rebuild [{bar}] {value}/{total} events | {rate} ev/s | ETA {eta_formatted} | {phase}' },
    Presets.shades_classic,
  );
  const started = performance.now();
  try {
    bar.start(1, 0, { rate: 0, phase: 'starting' });
    const result = await rebuildViews({
      ...options,
      onProgress: (p) => {
        const seconds = (performance.now() - started) / 1000;
        bar.setTotal(Math.max(1, p.total));
        bar.update(Math.min(p.applied, p.total), { rate: Math.round(p.applied / seconds), phase: p.phase });
      },
    });
    bar.stop();
    console.log(
      `rebuilt ${result.events} events in ${result.seconds.toFixed(1)} s (${Math.round(result.events / result.seconds)} ev/s); swapped in`,
    );
  } finally {
    bar.stop();
  }
}

/**
 * `locus projector dlq list|retry <id>|skip <id>`: the admin routes' dead-letter actions, without a
 * running projector.
 * @throws LocusError LOCUS_VALIDATION for an unknown action or an id that is not one.
 */
export async function dlqCommand(
  target: { pool: pg.Pool; consumer: string; tables: ViewTables },
  args: readonly string[],
): Promise<void> {
  const [verb, idText] = args;
  if (verb === 'list' || verb === undefined) {
    const letters = await listDeadLetters(target.pool, target.consumer, { limit: 1000 });
    if (letters.length === 0) console.log('no dead letters');
    for (const letter of letters.map(toDeadLetterBody)) {
      console.log(
        `${letter.id}\t${letter.status}\t${letter.topic}/${letter.partition}@${letter.offset}\tkey=${letter.key ?? ''}\t${letter.errorCode}\t${letter.reason}`,
      );
    }
    return;
  }
  const id = Number(idText);
  if (!Number.isInteger(id) || id < 1) {
    throw new LocusError('LOCUS_VALIDATION', `usage: locus projector dlq ${verb} <id> (a dead letter id)`);
  }
  if (verb === 'retry') console.log(JSON.stringify(await retryDeadLetter(target, id)));
  else if (verb === 'skip') console.log(JSON.stringify(await skipDeadLetter(target, id)));
  else
    throw new LocusError(
      'LOCUS_VALIDATION',
      `unknown dlq action "${verb}": use list, retry <id> or skip <id>`,
    );
}
