import type pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import type { NewDeadLetter } from '../dead-letter.repository.js';
import type { ViewTables } from '../projection.types.js';
import type { PartitionProgress } from './plan.js';

/** Where and how runBatch applies batches. */
export interface ProjectionTarget {
  pool: pg.Pool;
  /** Names the positions, the dead letters and the advisory lock of this projection. */
  consumer: string;
  tables: ViewTables;
  logger: Logger;
  /** Called with newly parked events inside the batch transaction, before COMMIT (dead-letter topic). */
  publishDeadLetters?: (letters: NewDeadLetter[]) => Promise<void>;
  /** Dead letters another consumer skipped are ignored here (a rebuild honours the live skips). */
  honourSkipsOf?: string;
  /**
   * Checked under the consumer's lock: once true, batches change nothing (a rebuild's consumer after its
   * tables were swapped in, while it is being stopped).
   */
  retired?: () => boolean;
  /** Attempts of a whole batch before its events are applied one by one to isolate a failing one. */
  batchAttempts?: number;
  retryDelayMs?: number;
}

/** What one committed batch did. */
export interface BatchOutcome {
  /** Messages at or past the stored positions. */
  handled: number;
  /** Changes that passed the version guard. */
  applied: number;
  skippedBelowPosition: number;
  /** The stored next offset of each partition that had messages at or past its position. */
  positions: PartitionProgress[];
  /** The read store's WAL position after the batch, or null when it handled nothing. */
  commitLsn: string | null;
  /** Event times (ISO 8601) of the decoded events, for the freshness histogram. */
  eventTimes: string[];
  /** The error code of every event parked or left waiting. */
  deadLetterCodes: string[];
  /** Category summaries the store refused to recompute. */
  summaryFailures: number;
}
