import { EventWriter, mixedStream } from '../../testkit/events.js';
import { seededRandom } from '../../testkit/random.js';

/**
 * The projector benchmarks' catch-up stream, the same in every one of them so their figures compare:
 * per 200,000 events, 50 categories, 20,000 products, 110,000 reviews and 70,000 edits (renames,
 * moves, re-ratings, deletes), seeded. Returns the writer, which knows what is live afterwards.
 */
export function writeCatchUpBacklog(events: number, random = seededRandom(1)): EventWriter {
  const writer = new EventWriter();
  const scale = events / 200_000;
  mixedStream(writer, random, {
    categories: 50,
    products: Math.round(20_000 * scale),
    reviews: Math.round(110_000 * scale),
    edits: Math.round(70_000 * scale),
  });
  return writer;
}
