import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageProducer } from '../messaging/kafka.js';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { publishBounded } from './bounded-publish.js';
import { IdleBackoff } from './idle-backoff.js';
import type { OutboxSource, PendingEvent } from './outbox-source.js';
import type { RelayMetrics } from './relay.metrics.js';

export { toMessage } from './bounded-publish.js';

const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;

export interface RelayOptions {
  logger: Logger;
  metrics?: RelayMetrics;
  clock?: Clock;
  /** Most events claimed and published per batch (default 500). */
  batchSize?: number;
  /** Published events older than this are deleted from the outbox (default 7 days). */
  retentionMs?: number;
  /** How often the retention purge runs (default 1 hour; the first run is at start). */
  purgeIntervalMs?: number;
  /** Shortest wait after an empty batch (default 5 ms); see IdleBackoff. */
  minPollMs?: number;
  /** Called after each batch is acknowledged by Kafka, before it is marked published. */
  onPublished?: (events: PendingEvent[], ackedAt: Date) => void;
}

interface RelayStatus {
  source: string;
  consecutiveFailures: number;
  lastError: string | undefined;
  lastBatchAt: Date | undefined;
}

export interface RunningRelay {
  status(): RelayStatus;
  /**
   * Stops now: a batch whose send is still unacknowledged is abandoned and rolled back by its source
   * (its events stay pending); resolves when the loops ended.
   */
  stop(): Promise<void>;
}

/** Waits `ms`, or less when `signal` aborts: a stop cuts the wait short and is no failure. */
const pause = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

/**
 * `work`, or a rejection as soon as `signal` aborts. kafkajs cannot abort a send it is retrying (the
 * broker gone: its retries outlast a shutdown grace), so a stop abandons the batch instead: its
 * source rolls it back and the events stay pending, to be sent again (at-least-once). The send itself
 * ends in the background when the producer disconnects.
 */
function abandonedOnStop<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abandon = () => reject(new Error('relay stopping: the batch in flight is abandoned'));
    signal.addEventListener('abort', abandon, { once: true });
    if (signal.aborted) abandon();
    void work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abandon));
  });
}

/**
 * Publishes `source`'s outbox to Kafka until stopped. Each batch is claimed, sent, acknowledged
 * (acks=all) and only then marked published, so delivery is at-least-once: a crash between the ack
 * and the mark re-sends the batch, and consumers drop the duplicates by aggregate version. Per-key
 * order is the source's guarantee (it hands one key's events to one relay at a time, in order) kept
 * here by sending a batch in the order given, one size-bounded request at a time (publishBounded). A
 * batch with events is followed at once by the next; after empty ones the wait grows from `minPollMs`
 * to the source's `pollIntervalMs` (IdleBackoff). An event that can never be published is parked by
 * its source (a relay dead letter) and holds back only its own key. Failures (store or broker down)
 * are logged and retried with capped exponential backoff. The retention purge runs beside it.
 */
export function runRelay(
  source: OutboxSource,
  producer: MessageProducer,
  options: RelayOptions,
): RunningRelay {
  const clock = options.clock ?? systemClock;
  const batchSize = options.batchSize ?? 500;
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const purgeIntervalMs = options.purgeIntervalMs ?? 3600_000;
  const log = options.logger.child({ source: source.name });
  const labels = { source: source.name };
  const controller = new AbortController();
  const signal = controller.signal;
  const status: RelayStatus = {
    source: source.name,
    consecutiveFailures: 0,
    lastError: undefined,
    lastBatchAt: undefined,
  };

  const publish = async (batch: PendingEvent[]) => {
    const outcome = await abandonedOnStop(publishBounded(producer, batch), signal);
    const ackedAt = clock.now();
    const events = outcome.published;
    for (const { event, reason } of outcome.parked) {
      log.error({ outboxId: event.outboxId, key: event.key, reason }, 'event can never be published; parked');
    }
    if (options.metrics) {
      options.metrics.batchSize.observe(labels, events.length);
      options.metrics.parked.inc(labels, outcome.parked.length);
      for (const event of events) {
        if (event.createdAt)
          options.metrics.commitToAck.observe(labels, (ackedAt.getTime() - event.createdAt.getTime()) / 1000);
      }
    }
    options.onPublished?.(events, ackedAt);
    return outcome;
  };

  const idle = new IdleBackoff(
    options.minPollMs ?? 5,
    Math.max(options.minPollMs ?? 5, source.pollIntervalMs),
  );
  const publishLoop = async () => {
    while (!signal.aborted) {
      try {
        const count = await source.publishBatch(batchSize, publish);
        options.metrics?.published.inc(labels, count);
        status.consecutiveFailures = 0;
        status.lastBatchAt = clock.now();
        const wait = idle.afterBatch(count, performance.now());
        if (wait > 0) await pause(wait, signal);
      } catch (error) {
        if (signal.aborted) {
          log.info('relay stopped; the batch in flight stays pending, to be sent again');
          return;
        }
        status.consecutiveFailures += 1;
        status.lastError = error instanceof Error ? error.message : String(error);
        log.error({ err: error, failures: status.consecutiveFailures }, 'relay batch failed; retrying');
        await pause(Math.min(100 * 2 ** status.consecutiveFailures, 5_000), signal);
      }
    }
  };

  const purge = { source, clock, retentionMs, intervalMs: purgeIntervalMs, log };
  const loops = Promise.all([publishLoop(), purgeLoop(purge, signal)]);
  return {
    status: () => ({ ...status }),
    async stop() {
      controller.abort();
      await loops;
    },
  };
}

/** Deletes published events older than `retentionMs` every `intervalMs` until `signal` aborts. */
async function purgeLoop(
  purge: { source: OutboxSource; clock: Clock; retentionMs: number; intervalMs: number; log: Logger },
  signal: AbortSignal,
): Promise<void> {
  const { source, clock, retentionMs, intervalMs, log } = purge;
  while (!signal.aborted) {
    try {
      const purged = await source.purgePublished(new Date(clock.now().getTime() - retentionMs));
      if (purged > 0) log.info({ purged }, 'purged published outbox events');
    } catch (error) {
      log.warn({ err: error }, 'outbox retention purge failed; next attempt at the next interval');
    }
    await pause(intervalMs, signal);
  }
}
