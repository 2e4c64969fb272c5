import type { Db } from 'mongodb';
import type { RetentionJob } from '../shared/retention.js';
import { deadLetterCollection } from './review-outbox.dead-letters.js';
import { reviewCollections } from './review.model.js';

/**
 * The reviews store's idempotency keys older than `retentionMs` (by `createdAt`). On FerretDB v1 the
 * range filter runs in Go over the collection: a periodic job, not a request path.
 */
export function reviewIdempotencyKeyRetention(db: Db, retentionMs: number): RetentionJob {
  const { idempotencyKeys } = reviewCollections(db);
  return {
    name: 'review_idempotency_keys',
    retentionMs,
    async purgeChunk(olderThan, limit) {
      const old = await idempotencyKeys
        .find({ createdAt: { $lt: olderThan } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray();
      if (old.length === 0) return 0;
      await idempotencyKeys.deleteMany({ _id: { $in: old.map((key) => key._id) } });
      return old.length;
    },
  };
}

/**
 * Write outcomes (review.model.ts) decided more than `retentionMs` ago whose outbox entry is gone:
 * the relay only reads the outcome of an entry still in the outbox, or one a dead-letter retry puts
 * back, so those are kept whatever their age. An entry is inserted before its outcome, so one not
 * found after the outcome was read is gone for good.
 */
export function writeOutcomeRetention(db: Db, retentionMs: number): RetentionJob {
  const { outcomes, outbox } = reviewCollections(db);
  return {
    name: 'review_write_outcomes',
    retentionMs,
    async purgeChunk(olderThan, limit) {
      const old = await outcomes
        .find({ decidedAt: { $lt: olderThan } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray();
      if (old.length === 0) return 0;
      const ids = old.map((outcome) => outcome._id);
      const [inOutbox, parked] = await Promise.all([
        outbox.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray(),
        deadLetterCollection(db)
          .find({ _id: { $in: ids } }, { projection: { _id: 1 } })
          .toArray(),
      ]);
      const kept = new Set([...inOutbox, ...parked].map((document) => document._id));
      const gone = ids.filter((id) => !kept.has(id));
      if (gone.length > 0) await outcomes.deleteMany({ _id: { $in: gone } });
      // A full chunk of kept outcomes reports itself short, so the round ends instead of re-reading it.
      return gone.length;
    },
  };
}
