import type { ReviewCollections } from './review.model.js';

/** Most ids in one `$in` of a delete (FerretDB compares each row with each id, in Go). */
export const DELETE_CHUNK = 1_000;

/**
 * Deletes events recorded before `olderThan` that are no longer in the outbox. Race-free without
 * transactions: the candidates are read first; each one's outbox entry was inserted before its
 * event, hence before that read, so the outbox read that follows sees it unless it was published.
 * A published event's state is already in the review document (confirmed or repaired before
 * publishing) and writers take the newer of the document and the newest event as their start.
 * On FerretDB the candidate read runs in Go over all events (no range pushdown): it is the periodic
 * retention job, not the publishing path.
 */
export async function purgePublishedEvents(
  { events, outbox }: ReviewCollections,
  olderThan: Date,
): Promise<number> {
  const candidates = await events
    .find({ recordedAt: { $lt: olderThan } }, { projection: { _id: 1, lane: 1, slot: 1 } })
    .toArray();
  if (candidates.length === 0) return 0;
  const pending = new Set(
    (await outbox.find({ kind: 'event' }, { projection: { _id: 1 } }).toArray()).map((entry) => entry._id),
  );
  const bySlot = new Map<string, { lane: number; slot: number; ids: string[] }>();
  for (const event of candidates) {
    if (pending.has(event._id)) continue;
    const key = `${event.lane}:${event.slot}`;
    const group = bySlot.get(key) ?? { lane: event.lane, slot: event.slot, ids: [] };
    group.ids.push(event._id);
    bySlot.set(key, group);
  }
  let deleted = 0;
  for (const { lane, slot, ids } of bySlot.values()) {
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const chunk = ids.slice(i, i + DELETE_CHUNK);
      deleted += (await events.deleteMany({ lane, slot, _id: { $in: chunk } })).deletedCount;
    }
  }
  return deleted;
}
