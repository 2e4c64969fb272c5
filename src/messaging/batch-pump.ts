import type { Logger } from '../shared/logger.js';
import type { IncomingBatch, PartitionPosition } from './kafka.js';

/** Where the consumer stands on each partition it is assigned. */
export type Assigned = { topic: string; partition: number }[];

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
  const maxPending = options.maxPendingMessages ?? 10_000;
  const baseDelayMs = options.retryDelayMs ?? 1_000;
  const retryDelay = (attempt: number) => Math.min(MAX_RETRY_DELAY_MS, baseDelayMs * 2 ** (attempt - 1));
  let queue: IncomingBatch[] = [];
  let queued = 0;
  let epoch = 0;
  /** Resumes in progress (a failure or a reassignment): offered batches are dropped meanwhile. */
  let resuming = 0;
  let stopped = false;
  let failures = 0;
  let assigned: Assigned = [];
  let heartbeat: () => Promise<void> = async () => undefined;
  let running: Promise<void> | undefined;
  const roomWaiters: (() => void)[] = [];
  const resumeWaiters: (() => void)[] = [];

  const wake = (waiters: (() => void)[]) => {
    for (const resolve of waiters) resolve();
  };
  const clearQueue = () => {
    queue = [];
    queued = 0;
    wake(roomWaiters.splice(0));
  };
  const accepting = (since: number) => !stopped && resuming === 0 && epoch === since;

  const drain = () => {
    if (running || queue.length === 0 || stopped) return;
    const batches = queue;
    const since = epoch;
    clearQueue();
    running = options.handleBatches(batches, heartbeat).then(
      () => {
        failures = 0;
        running = undefined;
        drain();
      },
      (error: unknown) => {
        running = undefined;
        if (stopped || since !== epoch) return;
        failures += 1;
        const delayMs = retryDelay(failures);
        logger.error({ err: error, delayMs }, 'batch handling failed; resuming from the stored positions');
        void resume(delayMs);
      },
    );
  };

  /** Drops what is queued and, after `delayMs`, seeks every assigned partition to `positions()`. */
  const resume = async (delayMs: number) => {
    epoch += 1;
    resuming += 1;
    clearQueue();
    try {
      for (let attempt = 1; !stopped; attempt++) {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        try {
          for (const p of await options.positions(assigned)) seek(p);
          return;
        } catch (error) {
          logger.error({ err: error }, 'could not load stored positions; retrying');
          delayMs = retryDelay(attempt + 1);
        }
      }
    } finally {
      resuming -= 1;
      if (resuming === 0) wake(resumeWaiters.splice(0));
    }
  };

  return {
    reassigned(partitions) {
      assigned = partitions;
      void resume(0);
    },
    async offer(fetched) {
      const since = epoch;
      // While resuming, hold the fetcher until the seeks are set, then drop this batch (fetched before
      // them): its next fetch then starts at the seeks instead of long-polling at the old offsets.
      if (resuming > 0 && !stopped) {
        await new Promise<void>((resolve) => resumeWaiters.push(resolve));
        return;
      }
      if (!accepting(since)) return;
      // Back-pressure: the client fetches again only after this returns.
      while (queued >= maxPending && accepting(since)) {
        await new Promise<void>((resolve) => roomWaiters.push(resolve));
      }
      if (!accepting(since) || fetched.isStale() || !fetched.isRunning()) return;
      const batch = fetched.read();
      if (batch.messages.length === 0) return;
      heartbeat = () => fetched.heartbeat();
      options.onFetched?.(batch);
      queue.push(batch);
      queued += batch.messages.length;
      // Let the other batches of this fetch join the queue before a call takes it.
      setImmediate(drain);
    },
    stopping() {
      stopped = true;
      clearQueue();
      wake(resumeWaiters.splice(0));
    },
    async idle() {
      await running?.catch(() => undefined);
    },
  };
}
