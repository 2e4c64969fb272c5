import type pg from 'pg';
import type { Topics } from '../contracts/topics.js';
import type { BatchConsumer, Broker, IncomingBatch, PartitionPosition } from '../messaging/kafka.js';
import type { HealthCheck } from '../shared/http-server.js';
import { countOpenDeadLetters } from './dead-letter.repository.js';
import { loadPositions } from './positions.repository.js';
import { projectBatches, type BatchOutcome, type ProjectionTarget } from './project-batch.js';

export interface ProjectorOptions extends ProjectionTarget {
  broker: Broker;
  topics: Topics;
  groupId: string;
  /** Unhealthy when there is lag and no batch committed for this long. */
  stuckAfterMs: number;
  lagPollMs?: number;
  /** Called after every committed batch (progress bars, tests). */
  onBatch?: (outcome: BatchOutcome) => void;
}

export interface ProjectorStatus {
  consumer: string;
  /** Sum over partitions of high watermark minus stored next offset, as of the last poll. */
  lag: number;
  handled: number;
  lastProgressAt: Date;
}

export interface Projector {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): ProjectorStatus;
  /** Measures lag now (positions in the read store against the broker's end offsets). */
  measureLag(): Promise<number>;
  healthCheck: HealthCheck;
}

export function topicList(topics: Topics): string[] {
  return [topics.products, topics.categories, topics.reviews];
}

/**
 * The projector's consume loop: a batch consumer that resumes from the positions stored in the read
 * store (never Kafka's committed offsets), applies each batch with projectBatch, and watches its own
 * lag so /health can tell "stuck" (lag and no progress) from "idle" (no lag).
 */
export function createProjector(options: ProjectorOptions): Projector {
  const { consumer, clock } = options;
  let batchConsumer: BatchConsumer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lag = 0;
  let lagError: Error | undefined;
  let handled = 0;
  let lastProgressAt = clock.now();
  const topics = topicList(options.topics);

  const measureLag = async (): Promise<number> => {
    const [ends, stored] = await Promise.all([
      Promise.all(topics.map((topic) => options.broker.endOffsets(topic))).then((lists) => lists.flat()),
      loadPositions(options.pool, consumer, topics),
    ]);
    const storedBy = new Map(stored.map((p) => [`${p.topic}/${p.partition}`, BigInt(p.offset)]));
    let total = 0;
    for (const end of ends) {
      const next = storedBy.get(`${end.topic}/${end.partition}`) ?? 0n;
      const partitionLag = Math.max(0, Number(BigInt(end.offset) - next));
      options.metrics?.lag.set(
        { consumer, topic: end.topic, partition: String(end.partition) },
        partitionLag,
      );
      total += partitionLag;
    }
    lag = total;
    if (total === 0) lastProgressAt = clock.now();
    options.metrics?.openDeadLetters.set({ consumer }, await countOpenDeadLetters(options.pool, consumer));
    return total;
  };

  return {
    async start() {
      batchConsumer = await options.broker.startBatchConsumer({
        groupId: options.groupId,
        topics,
        positions: (assigned) => resumePositions(options.pool, consumer, assigned),
        // The batches of one fetch arrive concurrently, one call per partition; they commit together.
        partitionsConsumedConcurrently: 32,
        maxBytesPerPartition: 512 * 1024,
        handleBatch: coalesce(async (batches) => {
          const outcome = await projectBatches(options, batches);
          if (outcome.handled > 0) {
            handled += outcome.handled;
            lastProgressAt = clock.now();
          }
          options.onBatch?.(outcome);
        }),
      });
      const poll = () =>
        measureLag().then(
          () => (lagError = undefined),
          (error: unknown) => (lagError = error as Error),
        );
      void poll();
      timer = setInterval(() => void poll(), options.lagPollMs ?? 5_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await batchConsumer?.stop();
    },
    status: () => ({ consumer, lag, handled, lastProgressAt }),
    measureLag,
    healthCheck: {
      name: 'projector',
      async check() {
        if (lagError) throw new Error(`cannot measure lag: ${lagError.message}`);
        const idleMs = clock.now().getTime() - lastProgressAt.getTime();
        if (lag > 0 && idleMs > options.stuckAfterMs) {
          throw new Error(`stuck: lag ${lag} and no batch committed for ${Math.round(idleMs / 1000)} s`);
        }
        return `lag ${lag}`;
      },
    },
  };
}

/** Where each assigned partition resumes: its stored position, or 0 when it has none. */
export async function resumePositions(
  pool: pg.Pool,
  consumer: string,
  assigned: { topic: string; partition: number }[],
): Promise<PartitionPosition[]> {
  const stored = await loadPositions(pool, consumer);
  const by = new Map(stored.map((p) => [`${p.topic}/${p.partition}`, p.offset]));
  return assigned.map((a) => ({ ...a, offset: by.get(`${a.topic}/${a.partition}`) ?? '0' }));
}

/**
 * Group commit: batches handed in during the same turn of the event loop (the partitions of one fetch)
 * are applied by one call, so they share one transaction; every caller settles with that call. Safe
 * because positions live in the read store: a failure rejects every caller, and nothing was stored.
 */
export function coalesce(
  apply: (batches: IncomingBatch[]) => Promise<void>,
): (batch: IncomingBatch) => Promise<void> {
  let pending: { batch: IncomingBatch; resolve: () => void; reject: (error: unknown) => void }[] = [];
  const flush = () => {
    const group = pending;
    pending = [];
    apply(group.map((item) => item.batch)).then(
      () => group.forEach((item) => item.resolve()),
      (error: unknown) => group.forEach((item) => item.reject(error)),
    );
  };
  return (batch) =>
    new Promise<void>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ batch, resolve, reject });
    });
}
