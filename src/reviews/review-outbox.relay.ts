import { MongoClient } from 'mongodb';
import type { OutboxSource } from '../relay/outbox-source.js';
import { loadConfig } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { RelayDeadLetterStore } from '../relay/relay-dead-letters.js';
import { ReviewOutboxDeadLetters } from './review-outbox.dead-letters.js';
import { ReviewOutboxSource } from './review-outbox.source.js';
import { ensureReviewIndexes } from './review.model.js';

/**
 * The reviews outbox as the relay process runs it: connects to LOCUS_MONGO_URL (its path names the
 * database), ensures the indexes the outbox relies on, and returns a `ReviewOutboxSource` publishing to
 * `topicNames(LOCUS_TOPIC_PREFIX).reviews`; closing it gives its lanes back and closes the connection.
 * @example sources.push(await reviewsOutboxSource(logger));
 */
export async function reviewsOutboxSource(
  logger: Logger,
  options: { pollIntervalMs?: number } = {},
): Promise<OutboxSource> {
  const config = loadConfig(['LOCUS_MONGO_URL', 'LOCUS_TOPIC_PREFIX']);
  const client = await new MongoClient(config.LOCUS_MONGO_URL, {
    appName: 'locus-relay',
    maxPoolSize: 10,
  }).connect();
  const db = client.db();
  await ensureReviewIndexes(db);
  const source = new ReviewOutboxSource(db, {
    topicPrefix: config.LOCUS_TOPIC_PREFIX,
    pollIntervalMs: options.pollIntervalMs ?? 200,
    logger,
  });
  const close = source.close.bind(source);
  source.close = async () => {
    try {
      await close();
    } finally {
      await client.close();
    }
  };
  return source;
}

/**
 * The reviews outbox's relay dead letters over LOCUS_MONGO_URL, for `locus relay dlq` (no relay loop).
 * @example const { store, close } = await reviewsDeadLetters();
 */
export async function reviewsDeadLetters(): Promise<{ store: RelayDeadLetterStore; close(): Promise<void> }> {
  const config = loadConfig(['LOCUS_MONGO_URL']);
  const client = await new MongoClient(config.LOCUS_MONGO_URL, {
    appName: 'locus-relay-dlq',
    maxPoolSize: 2,
  }).connect();
  return { store: new ReviewOutboxDeadLetters(client.db()), close: () => client.close() };
}
