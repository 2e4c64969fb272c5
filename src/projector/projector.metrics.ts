import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatchOutcome } from './batch/batch.types.js';

/** The projector's Prometheus metrics, registered once per process on its registry. */
export interface ProjectorMetrics {
  eventsApplied: Counter<'consumer'>;
  eventsSkipped: Counter<'consumer'>;
  batchSize: Histogram<'consumer'>;
  batchDuration: Histogram<'consumer'>;
  lag: Gauge<'consumer' | 'topic' | 'partition'>;
  freshness: Histogram<'consumer'>;
  deadLetters: Counter<'consumer' | 'code'>;
  openDeadLetters: Gauge<'consumer'>;
  summaryFailures: Counter<'consumer'>;
}

export function createProjectorMetrics(registry: Registry): ProjectorMetrics {
  const registers = [registry];
  return {
    eventsApplied: new Counter({
      name: 'locus_projector_events_applied_total',
      help: 'Events handled in committed batches (rate() gives events applied per second)',
      labelNames: ['consumer'],
      registers,
    }),
    eventsSkipped: new Counter({
      name: 'locus_projector_events_skipped_total',
      help: "Messages below the stored positions, ignored: redeliveries after a crash or a rebalance, a zombie consumer's stale batch",
      labelNames: ['consumer'],
      registers,
    }),
    batchSize: new Histogram({
      name: 'locus_projector_batch_size',
      help: 'Messages per committed batch',
      labelNames: ['consumer'],
      buckets: [1, 10, 50, 100, 500, 1000, 2500, 5000, 10000],
      registers,
    }),
    batchDuration: new Histogram({
      name: 'locus_projector_batch_duration_seconds',
      help: 'Time to apply and commit one batch',
      labelNames: ['consumer'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    lag: new Gauge({
      name: 'locus_projector_consumer_lag',
      help: 'Messages not yet applied per partition: high watermark minus the stored next offset',
      labelNames: ['consumer', 'topic', 'partition'],
      registers,
    }),
    freshness: new Histogram({
      name: 'locus_projector_freshness_seconds',
      help: 'Now minus the event time of applied events, at commit',
      labelNames: ['consumer'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600],
      registers,
    }),
    deadLetters: new Counter({
      name: 'locus_projector_dead_letters_total',
      help: 'Events parked in the dead-letter table (poison, or waiting behind a parked event)',
      labelNames: ['consumer', 'code'],
      registers,
    }),
    openDeadLetters: new Gauge({
      name: 'locus_projector_dead_letters_open',
      help: 'Dead letters not yet retried or skipped',
      labelNames: ['consumer'],
      registers,
    }),
    summaryFailures: new Counter({
      name: 'locus_projector_summary_failures_total',
      help: 'Category summaries the store refused to recompute; each stays stale until its next event or a rebuild, and parks no event',
      labelNames: ['consumer'],
      registers,
    }),
  };
}

/**
 * Records a committed batch: counts, size, duration (`seconds`, retries included), each event's
 * freshness at `nowMs`, each partition's lag, and the dead letters and summary failures it left.
 */
export function recordBatch(
  metrics: ProjectorMetrics,
  consumer: string,
  outcome: BatchOutcome,
  seconds: number,
  nowMs: number,
): void {
  if (outcome.skippedBelowPosition > 0) metrics.eventsSkipped.inc({ consumer }, outcome.skippedBelowPosition);
  for (const code of outcome.deadLetterCodes) metrics.deadLetters.inc({ consumer, code });
  if (outcome.summaryFailures > 0) metrics.summaryFailures.inc({ consumer }, outcome.summaryFailures);
  if (outcome.handled === 0) return;
  metrics.eventsApplied.inc({ consumer }, outcome.handled);
  metrics.batchSize.observe({ consumer }, outcome.handled);
  metrics.batchDuration.observe({ consumer }, seconds);
  for (const time of outcome.eventTimes)
    metrics.freshness.observe({ consumer }, Math.max(0, (nowMs - Date.parse(time)) / 1000));
  for (const p of outcome.positions) {
    metrics.lag.set(
      { consumer, topic: p.topic, partition: String(p.partition) },
      Math.max(0, Number(BigInt(p.highWatermark) - BigInt(p.nextOffset))),
    );
  }
}
