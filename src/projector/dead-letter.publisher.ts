import type { MessageProducer } from '../messaging/kafka.js';
import type { NewDeadLetter } from './dead-letter.repository.js';

/**
 * Copies parked events to the dead-letter topic, with why and where they came from in headers. The
 * dead_letters table stays the one operators act on; the topic lets other systems watch.
 */
export async function publishDeadLetters(
  producer: MessageProducer,
  topic: string,
  letters: readonly NewDeadLetter[],
): Promise<void> {
  await producer.send(
    letters.map((letter) => ({
      topic,
      key: letter.message.key ?? '',
      value: letter.message.value?.toString('utf8') ?? '',
      headers: {
        ...letter.message.headers,
        'locus-dlq-status': letter.status,
        'locus-dlq-code': letter.errorCode,
        'locus-dlq-reason': letter.reason.slice(0, 1000),
        'locus-dlq-origin': `${letter.message.topic}/${letter.message.partition}/${letter.message.offset}`,
      },
    })),
  );
}
