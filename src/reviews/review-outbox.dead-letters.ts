import type { Collection, Db, Document } from 'mongodb';
import type { RelayDeadLetter, RelayDeadLetterStore } from '../relay/relay-dead-letters.js';
import { confirmationId, reviewCollections, type OutboxEntryDocument } from './review.model.js';
import { isDuplicateKey } from './review.repository.js';

/** The reviews store's collection of relay dead letters. */
const DEAD_LETTERS_COLLECTION = 'relay_dead_letters';

/**
 * An outbox entry the relay set aside: the entry as it was (possibly malformed, hence `Document`), and
 * whether its writer had confirmed it, so a retry puts back exactly what was there.
 */
export interface ReviewDeadLetterDocument {
  /** The outbox entry's `_id` (its event id). */
  _id: string;
  productId: string;
  lane: number;
  topic: string;
  entry: Document;
  confirmed: boolean;
  reason: string;
  parkedAt: Date;
}

export function deadLetterCollection(db: Db): Collection<ReviewDeadLetterDocument> {
  return db.collection<ReviewDeadLetterDocument>(DEAD_LETTERS_COLLECTION);
}

/**
 * Moves an outbox entry to the dead letters. Only the dead letter is written here: the relay then
 * deletes the entry from the outbox like a published one. An entry present in both (a crash in
 * between) counts as parked; parking twice is a no-op.
 */
export async function parkEntry(
  db: Db,
  letter: Omit<ReviewDeadLetterDocument, 'entry'> & { entry: OutboxEntryDocument | Document },
): Promise<void> {
  try {
    await deadLetterCollection(db).insertOne(letter);
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}

/**
 * The reviews outbox's relay dead letters (`relay_dead_letters`). Retry puts the entry (and its
 * confirmation) back into the outbox before deleting the dead letter; skip deletes any copy left in
 * the outbox before deleting the dead letter. So at every step the entry is either parked or back in
 * the outbox, never published behind the relay's back, and its product's later entries wait until the
 * dead letter is gone.
 */
export class ReviewOutboxDeadLetters implements RelayDeadLetterStore {
  constructor(
    private readonly db: Db,
    private readonly source = 'reviews',
  ) {}

  async list(limit: number): Promise<RelayDeadLetter[]> {
    const letters = await deadLetterCollection(this.db).find({}).toArray();
    letters.sort((a, b) => a.parkedAt.getTime() - b.parkedAt.getTime() || (a._id < b._id ? -1 : 1));
    const waiting = new Map<string, number>();
    if (letters.length > 0) {
      const entries = await reviewCollections(this.db)
        .outbox.find({ kind: 'event' }, { projection: { productId: 1 } })
        .toArray();
      for (const entry of entries) {
        const product = (entry as { productId?: string }).productId ?? '';
        waiting.set(product, (waiting.get(product) ?? 0) + 1);
      }
    }
    return letters.slice(0, limit).map((letter) => ({
      source: this.source,
      id: letter._id,
      topic: letter.topic,
      key: letter.productId,
      eventType: typeof letter.entry.envelope === 'string' ? eventTypeOf(letter.entry.envelope) : null,
      aggregateVersion: typeof letter.entry.version === 'number' ? letter.entry.version : null,
      reason: letter.reason,
      parkedAt: letter.parkedAt,
      waiting: waiting.get(letter.productId) ?? 0,
    }));
  }

  count(): Promise<number> {
    return deadLetterCollection(this.db).countDocuments({});
  }

  async retry(id: string): Promise<boolean> {
    const letter = await deadLetterCollection(this.db).findOne({ _id: id });
    if (!letter) return false;
    const outbox = this.db.collection<Document>(reviewCollections(this.db).outbox.collectionName);
    await insertIgnoringDuplicate(outbox, letter.entry);
    if (letter.confirmed) {
      await insertIgnoringDuplicate(outbox, {
        _id: confirmationId(id),
        kind: 'confirmation',
        eventId: id,
        lane: letter.entry.lane as unknown,
        slot: letter.entry.slot as unknown,
      });
    }
    return (await deadLetterCollection(this.db).deleteOne({ _id: id })).deletedCount === 1;
  }

  async skip(id: string): Promise<boolean> {
    const letter = await deadLetterCollection(this.db).findOne({ _id: id });
    if (!letter) return false;
    await reviewCollections(this.db).outbox.deleteMany({ _id: { $in: [id, confirmationId(id)] } });
    return (await deadLetterCollection(this.db).deleteOne({ _id: id })).deletedCount === 1;
  }
}

async function insertIgnoringDuplicate(collection: Collection<Document>, document: Document): Promise<void> {
  try {
    await collection.insertOne(document);
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}

function eventTypeOf(envelope: string): string | null {
  try {
    const type = (JSON.parse(envelope) as { type?: unknown }).type;
    return typeof type === 'string' ? type : null;
  } catch {
    return null;
  }
}
