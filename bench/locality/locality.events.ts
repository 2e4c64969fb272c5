import { randomUUID } from 'node:crypto';
import { generateReviews } from '../../examples/product-catalog/dataset.js';
import type { ReviewState } from '../../src/contracts/review.events.js';
import type { Broker } from '../../src/messaging/kafka.js';
import { publishBounded } from '../../src/relay/bounded-publish.js';
import type { PendingEvent } from '../../src/relay/outbox-source.js';
import { createdEvent } from '../../src/reviews/review.batch.js';
import { seededRandom } from '../../testkit/random.js';
import { rateBar } from '../lib/progress.js';
import { CATALOG, SEED } from './locality.settings.js';

/** Events per publish: the relay's own batch size, split into produce requests under the broker's limit. */
const EVENTS_PER_PUBLISH = 1_000;

/**
 * The reviews past what the reviews store can hold in a run's time (`--store-reviews`): their
 * review-created events, built by the reviews service's own `buildEvent` and published as the relay
 * publishes (`publishBounded`, keyed by product id), without the store. The projector builds the
 * views from them like any review, so locality and service-join see every review; composition, which
 * pages the store, is measured only up to that size. Creation times are spread over the year before
 * the run, as the store import spreads them. Returns events/s.
 * @throws Error when the broker parks an event (none of these is too large or malformed).
 */
export async function publishReviewEvents(
  broker: Broker,
  topic: string,
  productIds: string[],
  range: { from: number; to: number },
  now: Date,
): Promise<number> {
  const producer = await broker.producer();
  const random = seededRandom(SEED + range.from);
  const count = range.to - range.from;
  const size = { categories: CATALOG.categories, products: productIds.length, reviews: count };
  const progress = rateBar(
    'publishing [{bar}] {value}/{total} review-created events to Kafka | {percentage}% | {rate}/s',
    count,
  );
  const publish = async (events: PendingEvent[]) => {
    const outcome = await publishBounded(producer, events);
    if (outcome.parked.length > 0) throw new Error(`an event was parked: ${outcome.parked[0]!.reason}`);
    progress.advance(events.length);
  };
  try {
    let batch: PendingEvent[] = [];
    for (const review of generateReviews(size, SEED + range.from)) {
      const createdAt = new Date(now.getTime() - Math.floor(random() * 365 * 86_400_000));
      const { productKey, ...fields } = review;
      const state: ReviewState = {
        id: randomUUID(),
        productId: productIds[productKey]!,
        ...fields,
        createdAt: createdAt.toISOString(),
        updatedAt: createdAt.toISOString(),
      };
      const event = createdEvent(state, createdAt, randomUUID());
      batch.push({ outboxId: event._id, topic, key: state.productId, envelope: event.envelope });
      if (batch.length < EVENTS_PER_PUBLISH) continue;
      await publish(batch);
      batch = [];
    }
    if (batch.length > 0) await publish(batch);
  } finally {
    progress.stop();
    await producer.close();
  }
  return progress.perSecond();
}
