import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../shared/logger.js';
import type { IncomingBatch, PartitionPosition } from './kafka.js';

/** Where the consumer stands on each partition it is assigned. */
type Assigned = { topic: string; partition: number }[];

export interface BatchPumpOptions {
  /**
   * Called when partitions are assigned, and after a failed call: returns where to resume each one.
   * Positions stored in the read store win over Kafka's committed offsets, which locus never commits.
   */
  positions(assigned: Assigned): Promise<PartitionPosition[]>;
  /**
   * Handles every batch fetched since the previous call in ONE call, one call at a time, while the
   * consumer keeps fetching the next batches (at most `maxPendingMessages` wait; then fetching
   * pauses). So fetching overlaps handling, and a slow call gets a bigger next group. Each partition's
   * batches arrive in offset order, each one continuing where the one before it ended. When a call
   * rejects, everything fetched after it is dropped and, after `retryDelayMs`, every assigned
   * partition resumes from `positions()`: nothing is skipped. On every (re)assignment, waiting batches
   * are dropped too and partitions resume from `positions()`.
   */
  handleBatches: (batches: IncomingBatch[], heartbeat: () => Promise<void>) => Promise<void>;
  /**
   * Called for each batch as soon as it is fetched, before it waits for `handleBatches` (e.g. to
   * decode it while the previous call waits on its store). Must not throw.
   */
  onFetched?: (batch: IncomingBatch) => void;
  /** How many fetched messages may wait for the next `handleBatches` call (default 10,000). */
  maxPendingMessages?: number;
  /** Wait before resuming from `positions()` after a failed call (default 1,000 ms, doubling up to 10 s: the fetcher waits meanwhile, within the session timeout). */
  retryDelayMs?: number;
}

/** One fetched batch as the client hands it over; `read` converts it, after the checks. */
export interface FetchedBatch {
  isRunning(): boolean;
  /** True once a seek made this batch obsolete (it was fetched before the seek). */
  isStale(): boolean;
  heartbeat(): Promise<void>;
  read(): IncomingBatch;
}

export interface BatchPump {
  /** Every (re)assignment: drops what waits, then seeks each partition to `positions()`. */
  reassigned(partitions: Assigned): void;
  /** Queues a fetched batch; resolves when the client may fetch again (back-pressure). */
  offer(fetched: FetchedBatch): Promise<void>;
  /** Drops what waits and releases held fetches; `idle` then waits for the call in flight. */
  stopping(): void;
  idle(): Promise<void>;
}

const MAX_RETRY_DELAY_MS = 10_000;

/**
 * The fetch-ahead state machine behind a batch consumer. The client fetches the next batches only
 * once `offer` returned for every batch of the previous fetch, so `offer` only queues the batch and
 * returns; one `handleBatches` call at a time drains the queue.
 *
 * Nothing may be skipped: once a call failed, the batches fetched after its batches must not be
 * handled, or their positions would be stored past the failed ones. So a failure (or a reassignment)
 * bumps `epoch`, drops the queue, and drops every batch offered until the seeks to `positions()` are
 * set; the client marks batches fetched before a seek as stale, and the ones after start at the seek.
 */
export function createBatchPump(
  options: BatchPumpOptions,
  seek: (position: PartitionPosition) => void,
  logger: Logger,
): BatchPump {
  return new GroupPump(options, seek, logger);
}

class GroupPump implements BatchPump {
  private readonly maxPending: number;
  private readonly baseDelayMs: number;
  private queue: IncomingBatch[] = [];
  private queued = 0;
  private epoch = 0;
  /** Resumes in progress (a failure or a reassignment): offered batches are dropped meanwhile. */
  private resuming = 0;
  private stopped = false;
  private failures = 0;
  private assigned: Assigned = [];
  private heartbeat: () => Promise<void> = async () => undefined;
  private running: Promise<void> | undefined;
  private readonly roomWaiters: (() => void)[] = [];
  private readonly resumeWaiters: (() => void)[] = [];

  constructor(
    private readonly options: BatchPumpOptions,
    private readonly seek: (position: PartitionPosition) => void,
    private readonly logger: Logger,
  ) {
    this.maxPending = options.maxPendingMessages ?? 10_000;
    this.baseDelayMs = options.retryDelayMs ?? 1_000;
  }

  reassigned(partitions: Assigned): void {
    this.assigned = partitions;
    void this.resume(0);
  }

  async offer(fetched: FetchedBatch): Promise<void> {
    const since = this.epoch;
    // While resuming, hold the fetcher until the seeks are set, then drop this batch (fetched before
    // them): its next fetch then starts at the seeks instead of long-polling at the old offsets.
    if (this.resuming > 0 && !this.stopped) {
      await new Promise<void>((resolve) => this.resumeWaiters.push(resolve));
      return;
    }
    if (!this.accepting(since)) return;
    // Back-pressure: the client fetches again only after this returns.
    while (this.queued >= this.maxPending && this.accepting(since)) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    if (!this.accepting(since) || fetched.isStale() || !fetched.isRunning()) return;
    const batch = fetched.read();
    if (batch.messages.length === 0) return;
    this.heartbeat = () => fetched.heartbeat();
    this.options.onFetched?.(batch);
    this.queue.push(batch);
    this.queued += batch.messages.length;
    // Let the other batches of this fetch join the queue before a call takes it.
    setImmediate(() => this.drain());
  }

  stopping(): void {
    this.stopped = true;
    this.clearQueue();
    wake(this.resumeWaiters);
  }

  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private accepting(since: number): boolean {
    return !this.stopped && this.resuming === 0 && this.epoch === since;
  }

  private clearQueue(): void {
    this.queue = [];
    this.queued = 0;
    wake(this.roomWaiters);
  }

  private retryDelay(attempt: number): number {
    return Math.min(MAX_RETRY_DELAY_MS, this.baseDelayMs * 2 ** (attempt - 1));
  }

  private drain(): void {
    if (this.running || this.queue.length === 0 || this.stopped) return;
    const batches = this.queue;
    const since = this.epoch;
    this.clearQueue();
    this.running = this.options.handleBatches(batches, this.heartbeat).then(
      () => {
        this.failures = 0;
        this.running = undefined;
        this.drain();
      },
      (error: unknown) => {
        this.running = undefined;
        if (this.stopped || since !== this.epoch) return;
        this.failures += 1;
        const delayMs = this.retryDelay(this.failures);
        this.logger.error(
          { err: error, delayMs },
          'batch handling failed; resuming from the stored positions',
        );
        void this.resume(delayMs);
      },
    );
  }

  /** Drops what is queued and, after `delayMs`, seeks every assigned partition to `positions()`. */
  private async resume(delayMs: number): Promise<void> {
    this.epoch += 1;
    this.resuming += 1;
    this.clearQueue();
    try {
      for (let attempt = 1; !this.stopped; attempt++) {
        if (delayMs > 0) await sleep(delayMs);
        try {
          for (const p of await this.options.positions(this.assigned)) this.seek(p);
          return;
        } catch (error) {
          this.logger.error({ err: error }, 'could not load stored positions; retrying');
          delayMs = this.retryDelay(attempt + 1);
        }
      }
    } finally {
      this.resuming -= 1;
      if (this.resuming === 0) wake(this.resumeWaiters);
    }
  }
}

/** Resolves and forgets every waiter. */
function wake(waiters: (() => void)[]): void {
  for (const resolve of waiters.splice(0)) resolve();
}
