import type pg from 'pg';
import type { Topics } from '../../src/contracts/topics.js';
import type { Broker, MessageProducer } from '../../src/messaging/kafka.js';
import { toMessage, type StreamEvent } from '../../testkit/events.js';
import { progressBar } from '../lib/progress.js';

/** Produces `events` in sends of 5,000, with a progress bar; returns events/s. */
export async function produceAll(
  producer: MessageProducer,
  topics: Topics,
  events: StreamEvent[],
  label: string,
): Promise<number> {
  const bar = progressBar(`${label} [{bar}] {value}/{total} | {eta_formatted}`);
  bar.start(events.length, 0);
  const started = performance.now();
  for (let i = 0; i < events.length; i += 5_000) {
    await producer.send(events.slice(i, i + 5_000).map((e) => toMessage(topics, e)));
    bar.update(Math.min(events.length, i + 5_000));
  }
  bar.stop();
  return events.length / ((performance.now() - started) / 1000);
}

/** Messages in the three topics: the sum of their partitions' end offsets. */
export async function endTotal(broker: Broker, topics: Topics): Promise<number> {
  const ends = await Promise.all(
    [topics.products, topics.categories, topics.reviews].map((t) => broker.endOffsets(t)),
  );
  return ends.flat().reduce((n, p) => n + Number(p.offset), 0);
}

/** Messages the projector has committed: the sum of its stored positions in the read store. */
export async function storedTotal(pool: pg.Pool, consumer: string): Promise<number> {
  const result = await pool.query<{ n: number }>(
    'SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM projector_positions WHERE consumer = $1',
    [consumer],
  );
  return Number(result.rows[0]?.n ?? 0);
}
