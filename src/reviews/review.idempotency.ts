import { createHash } from 'node:crypto';
import type { Db } from 'mongodb';
import type { Clock } from '../shared/clock.js';
import { LocusError } from '../shared/errors.js';
import { reviewCollections } from './review.model.js';
import { isDuplicateKey } from './review.repository.js';

/** What a create's Idempotency-Key stands for: the review it creates, and whether it was seen before. */
interface ClaimedKey {
  reviewId: string;
  /** The key was claimed by an earlier request for the same product and body. */
  replay: boolean;
}

/**
 * Claims `key` for a create of `candidate`, or finds the review an earlier claim stands for.
 * @throws LocusError LOCUS_IDEMPOTENCY_MISMATCH when the key was used for another product or body;
 *   LOCUS_CONFLICT when its claim vanished while being read (reused concurrently).
 */
export async function claimIdempotencyKey(
  db: Db,
  clock: Clock,
  key: string,
  requestHash: string,
  candidate: string,
): Promise<ClaimedKey> {
  const { idempotencyKeys } = reviewCollections(db);
  try {
    await idempotencyKeys.insertOne({ _id: key, requestHash, reviewId: candidate, createdAt: clock.now() });
    return { reviewId: candidate, replay: false };
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
  const existing = await idempotencyKeys.findOne({ _id: key });
  if (!existing) throw new LocusError('LOCUS_CONFLICT', 'idempotency key is being reused concurrently');
  if (existing.requestHash !== requestHash) {
    throw new LocusError('LOCUS_IDEMPOTENCY_MISMATCH', 'Idempotency-Key was used for a different request', {
      details: [{ field: 'Idempotency-Key', message: 'reused with another product or body' }],
    });
  }
  return { reviewId: existing.reviewId, replay: true };
}

/** The fingerprint of a create request: the same product and body give the same hash. */
export function hashCreateRequest(
  productId: string,
  input: { author: string; rating: number; title: string; body: string },
): string {
  const canonical = JSON.stringify([productId, input.author, input.rating, input.title, input.body]);
  return createHash('sha256').update(canonical).digest('hex');
}
