import type { EventEnvelope } from '../contracts/envelope.js';
import type { RelayDeadLetterStore } from './relay-dead-letters.js';

/** One recorded change event waiting to be published. */
export interface PendingEvent {
  /** The source's own id of the outbox entry, used to mark it published. */
  outboxId: string;
  /** Kafka topic and partition key (see contracts/topics.ts for the keying rules). */
  topic: string;
  key: string;
  envelope: EventEnvelope;
  /** When the event was recorded (committed with its write); measures commit-to-ack latency. */
  createdAt?: Date;
}

/**
 * What became of a batch handed to `publish`: the events the broker acknowledged, and those that can
 * never be published (parked by the source as dead letters, with the reason). Any other event of the
 * batch (one of a parked event's key, after it) stays pending. `void` means every event was published.
 */
export interface PublishOutcome {
  published: PendingEvent[];
  parked: { event: PendingEvent; reason: string }[];
}

export type Publish = (events: PendingEvent[]) => Promise<PublishOutcome | void>;

/**
 * A store's outbox as the relay sees it. Implementations guarantee that no two relay instances hold
 * events of the same key at once (so per-key order survives several relays), and that an event is
 * handed out again until it has been marked published (at-least-once).
 */
export interface OutboxSource {
  readonly name: string;
  /** Longest wait between polls of an idle outbox, in ms (the relay polls sooner while busy). */
  readonly pollIntervalMs: number;
  /**
   * Claims up to `limit` unpublished events in per-key order and passes them to `publish`; marks them
   * published only after `publish` resolves, and parks the ones it reports as unpublishable. When
   * `publish` throws, nothing is marked. Events of a key with a parked event are not handed out
   * until that one is retried or skipped; an entry the source itself cannot read or complete is
   * parked by the source.
   * @returns how many events were published.
   */
  publishBatch(limit: number, publish: Publish): Promise<number>;
  /** The events this source parked. */
  readonly deadLetters: RelayDeadLetterStore;
  /** Deletes published events older than the retention period; returns how many. */
  purgePublished(olderThan: Date): Promise<number>;
  /** How many events wait to be published (for the pending gauge); optional. */
  pendingCount?(): Promise<number>;
  close(): Promise<void>;
}
