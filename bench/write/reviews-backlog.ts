import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import { ensureReviewIndexes, reviewCollections } from '../../src/reviews/review.model.js';
import { createReviewService } from '../../src/reviews/review.service.js';
import { systemClock, uuidGenerator } from '../../src/shared/clock.js';
import { progressBar } from '../lib/progress.js';

/**
 * Records `backlog` events in-process through the real write path (`createReviewService`: outbox
 * entry, event, document, confirmation), the catalog check stubbed: creates first (all of them), then
 * edits of those reviews, 32 at a time, so an edit always finds its review. Returns the events
 * recorded and the seconds it took.
 */
export async function seedBacklog(db: Db, backlog: number): Promise<{ events: number; seconds: number }> {
  await ensureReviewIndexes(db);
  const reviews = createReviewService({
    db,
    clock: systemClock,
    newId: uuidGenerator,
    products: { assertExists: async () => undefined },
  });
  const productIds = Array.from({ length: 200 }, () => randomUUID());
  const creates = Math.ceil(backlog / 2);
  const bar = progressBar('seeding |{bar}| {value}/{total} events');
  bar.start(backlog, 0);
  const started = performance.now();
  let next = 0;
  const created: string[] = [];
  const worker = async (upTo: number) => {
    for (let n = next++; n < upTo; n = next++) {
      if (n < creates) {
        const { review } = await reviews.create(productIds[n % productIds.length]!, {
          author: `a${n}`,
          rating: 1 + (n % 5),
          title: `t${n}`,
          body: 'bench '.repeat(20),
        });
        created.push(review.id);
      } else {
        await reviews.update(created[(n - creates) % created.length]!, { title: `edit ${n}` });
      }
      bar.increment();
    }
  };
  await Promise.all(Array.from({ length: 32 }, () => worker(creates)));
  next = creates;
  await Promise.all(Array.from({ length: 32 }, () => worker(backlog)));
  bar.stop();
  const seconds = (performance.now() - started) / 1000;
  return { events: await reviewCollections(db).events.countDocuments(), seconds };
}
