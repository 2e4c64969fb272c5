import type pg from 'pg';
import type { Topics } from '../contracts/topics.js';
import type { BatchConsumer, Broker, PartitionPosition } from '../messaging/kafka.js';
import type { HealthCheck } from '../shared/http-server.js';
import { decodeAhead } from './batch-plan.js';
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
  /** How many fetched events may wait for the next transaction (default 10,000). */
  maxEventsPerTransaction?: number;
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
        // Group commit with fetch-ahead: everything fetched while one transaction runs is applied by
        // the next one, in one transaction. Kafka keeps fetching meanwhile, and the bigger the group, the
        // more events per aggregate collapse into one row change (a backlog catches up faster). The cap
        // bounds memory and how long one transaction holds the consumer's lock.
        maxPendingMessages: options.maxEventsPerTransaction ?? 10_000,
        maxBytesPerPartition: 512 * 1024,
        // Resuming after a failure or a reassignment, and stopping, wait for the fetch in flight.
        maxWaitMs: 500,
        onFetched: (batch) => decodeAhead(batch.messages),
        handleBatches: async (batches) => {
          const outcome = await projectBatches(options, batches);
          if (outcome.handled > 0) {
            handled += outcome.handled;
            lastProgressAt = clock.now();
          }
          options.onBatch?.(outcome);
        },
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
