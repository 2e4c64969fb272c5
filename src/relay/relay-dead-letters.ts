/**
 * An outbox event the relay can never publish as it is (too large for the broker even alone, or an
 * entry it cannot read or complete), set aside with why. The later events of its key wait behind it
 * until an operator retries or skips it; every other key keeps flowing.
 */
export interface RelayDeadLetter {
  /** The outbox source that parked it (`catalog`, `reviews`). */
  source: string;
  /** The source's own id of the outbox entry. */
  id: string;
  topic: string;
  key: string;
  eventType: string | null;
  aggregateVersion: number | null;
  reason: string;
  parkedAt: Date;
  /** Events of the same key waiting behind it. */
  waiting: number;
}

/** A source's dead letters, for the relay's health, its admin routes and `locus relay dlq`. */
export interface RelayDeadLetterStore {
  /** Parked events, oldest first. */
  list(limit: number): Promise<RelayDeadLetter[]>;
  count(): Promise<number>;
  /**
   * Hands a parked event back to the relay, ahead of the events waiting behind it; if it fails
   * again it is parked again with the new reason. @returns false when no such event is parked.
   */
  retry(id: string): Promise<boolean>;
  /** Gives up on a parked event (never published); the events behind it flow. @returns false when none. */
  skip(id: string): Promise<boolean>;
}
