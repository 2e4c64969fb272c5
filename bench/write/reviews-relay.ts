import type { Db } from 'mongodb';
import { topicNames } from '../../src/contracts/topics.js';
import { toMessage } from '../../src/relay/relay.js';
import { ReviewOutboxSource } from '../../src/reviews/review-outbox.source.js';
import type { BenchEnvironment } from '../lib/environment.js';

/**
 * Drains the backlog the writes left through ReviewOutboxSource into a topic of its own (batches of
 * 500): events/s. The topic goes when the environment closes.
 */
export async function measureRelay(environment: BenchEnvironment, db: Db, backlog: number) {
  const { prefix } = await environment.topics();
  const topic = topicNames(prefix).reviews;
  const broker = environment.broker();
  await broker.ensureTopics([{ topic, partitions: 6 }]);
  const producer = await broker.producer();
  const source = new ReviewOutboxSource(db, { topicPrefix: prefix });
  const batchSize = 500;
  const started = performance.now();
  let published = 0;
  try {
    for (let n = 1; n > 0; published += n) {
      n = await source.publishBatch(batchSize, (batch) => producer.send(batch.map(toMessage)));
    }
  } finally {
    await source.close();
    await producer.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    backlog,
    published,
    batchSize,
    seconds: Number(seconds.toFixed(2)),
    eventsPerSecond: Number((published / seconds).toFixed(1)),
  };
}

/** The reviews store's version, for the results. */
export async function storeVersion(db: Db): Promise<string | undefined> {
  const info = (await db
    .admin()
    .command({ buildInfo: 1 })
    .catch(() => ({}))) as { version?: string };
  return info.version;
}
