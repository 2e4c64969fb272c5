import type pg from 'pg';
import type { Topics } from '../contracts/topics.js';
import type { BatchConsumer, Broker, IncomingBatch, PartitionPosition } from '../messaging/kafka.js';
import type { PartitionOffsets, TopicOffsetsReader } from '../messaging/topic-offsets.js';
import { LocusError } from '../shared/errors.js';
import type { Clock } from '../shared/clock.js';
import type { HealthCheck } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import type { BatchOutcome, ProjectionTarget } from './batch/batch.types.js';
import { createDecodeCache } from './batch/decode.js';
import { runBatch } from './batch/run-batch.js';
import { countOpenDeadLetters } from './dead-letter.repository.js';
import { loadPositions } from './positions.repository.js';
import { recordBatch, type ProjectorMetrics } from './projector.metrics.js';
import { describeBreak, positionBreaks, type PositionBreak } from './topic-continuity.js';

export interface ProjectorOptions extends ProjectionTarget {
  clock: Clock;
  metrics?: ProjectorMetrics;
  broker: Broker;
  /** Earliest and end offsets, checked against the stored positions with every lag poll. */
  topicOffsets: TopicOffsetsReader;
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

interface ProjectorStatus {
  consumer: string;
  /** Sum over partitions of high watermark minus stored next offset, as of the last poll. */
  lag: number;
  handled: number;
  lastProgressAt: Date;
  /** Stored positions the topics can no longer continue from, as of the last poll: see halts. */
  breaks: PositionBreak[];
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
 * store (never Kafka's committed offsets), applies each batch with runBatch, records its metrics, and
 * watches its own lag so /health can tell "stuck" (lag and no progress) from "idle" (no lag).
 */
export function createProjector(options: ProjectorOptions): Projector {
  const { consumer, clock } = options;
  let batchConsumer: BatchConsumer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lag = 0;
  let lagError: Error | undefined;
  let handled = 0;
  let lastProgressAt = clock.now();
  let breaks: PositionBreak[] = [];
  const topics = topicList(options.topics);
  const decoder = createDecodeCache();

  const measureLag = async (): Promise<number> => {
    // Positions first: read after the offsets, a batch committed in between could pass an end offset.
    const stored = await loadPositions(options.pool, consumer, topics);
    const offsets = (await Promise.all(topics.map((topic) => options.topicOffsets.offsets(topic)))).flat();
    breaks = positionBreaks(offsets, stored);
    for (const b of breaks) logBreak(options.logger, consumer, b);
    let total = 0;
    for (const p of partitionLags(offsets, stored)) {
      options.metrics?.lag.set({ consumer, topic: p.topic, partition: String(p.partition) }, p.lag);
      total += p.lag;
    }
    lag = total;
    if (total === 0) lastProgressAt = clock.now();
    options.metrics?.openDeadLetters.set({ consumer }, await countOpenDeadLetters(options.pool, consumer));
    return total;
  };

  return {
    async start() {
      const poll = () =>
        measureLag().then(
          () => (lagError = undefined),
          (error: unknown) => (lagError = error as Error),
        );
      // Before the first batch: a topic recreated while the projector was down is halted from the start.
      await poll();
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
        onFetched: (batch) => decoder.decodeAhead(batch.messages),
        handleBatches: async (batches) => {
          const { healthy, halted } = splitHalted(batches, breaks);
          if (healthy.length > 0) {
            const started = performance.now();
            const outcome = await runBatch(options, healthy, decoder.decode);
            if (options.metrics) {
              const seconds = (performance.now() - started) / 1000;
              recordBatch(options.metrics, consumer, outcome, seconds, clock.now().getTime());
            }
            if (outcome.handled > 0) {
              handled += outcome.handled;
              lastProgressAt = clock.now();
            }
            options.onBatch?.(outcome);
          }
          // Rejecting makes the consumer resume from the stored positions, so nothing of a halted topic
          // is applied or passed over until an operator repairs its positions (a rebuild).
          if (halted.length > 0)
            throw new LocusError(
              'LOCUS_CONFLICT',
              `not applying ${halted.join(', ')}: ${breaks.map(describeBreak).join('; ')}`,
            );
        },
      });
      timer = setInterval(() => void poll(), options.lagPollMs ?? 5_000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await batchConsumer?.stop();
    },
    status: () => ({ consumer, lag, handled, lastProgressAt, breaks }),
    measureLag,
    healthCheck: {
      name: 'projector',
      async check() {
        if (lagError) throw new Error(`cannot measure lag: ${lagError.message}`);
        if (breaks.length > 0) throw new Error(`halted: ${breaks.map(describeBreak).join('; ')}`);
        const idleMs = clock.now().getTime() - lastProgressAt.getTime();
        if (lag > 0 && idleMs > options.stuckAfterMs) {
          throw new Error(`stuck: lag ${lag} and no batch committed for ${Math.round(idleMs / 1000)} s`);
        }
        return `lag ${lag}`;
      },
    },
  };
}

function logBreak(logger: Logger, consumer: string, b: PositionBreak): void {
  const { topic, partition, stored, earliest, end } = b;
  logger.error(
    { consumer, topic, partition, stored, earliest, end },
    `projector halted on ${describeBreak(b)}; see README "When a topic was deleted, recreated or truncated"`,
  );
}

/** Each partition's end offset minus its stored next offset (0 when none is stored), never below 0. */
function partitionLags(
  offsets: readonly PartitionOffsets[],
  stored: readonly PartitionPosition[],
): { topic: string; partition: number; lag: number }[] {
  const storedBy = new Map(stored.map((p) => [`${p.topic}/${p.partition}`, BigInt(p.offset)]));
  return offsets.map((o) => {
    const next = storedBy.get(`${o.topic}/${o.partition}`) ?? 0n;
    return { topic: o.topic, partition: o.partition, lag: Math.max(0, Number(BigInt(o.end) - next)) };
  });
}

/**
 * The batches of topics with a broken position, apart: a recreated topic's offsets restart below the
 * stored ones, and applying from there would mix two histories.
 */
function splitHalted(
  batches: IncomingBatch[],
  breaks: readonly PositionBreak[],
): { healthy: IncomingBatch[]; halted: string[] } {
  if (breaks.length === 0) return { healthy: batches, halted: [] };
  const haltedTopics = new Set(breaks.map((b) => b.topic));
  const healthy = batches.filter((b) => !haltedTopics.has(b.topic));
  const halted = [...new Set(batches.filter((b) => haltedTopics.has(b.topic)).map((b) => b.topic))];
  return { healthy, halted };
}

/** Where each assigned partition resumes: its stored position, or 0 when it has none. */
async function resumePositions(
  pool: pg.Pool,
  consumer: string,
  assigned: { topic: string; partition: number }[],
): Promise<PartitionPosition[]> {
  const stored = await loadPositions(pool, consumer);
  const by = new Map(stored.map((p) => [`${p.topic}/${p.partition}`, p.offset]));
  return assigned.map((a) => ({ ...a, offset: by.get(`${a.topic}/${a.partition}`) ?? '0' }));
}
