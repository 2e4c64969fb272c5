import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface RelayMetrics {
  published: Counter<'source'>;
  batchSize: Histogram<'source'>;
  /** Outbox `created_at` (commit of the write) to the broker's acknowledgement. */
  commitToAck: Histogram<'source'>;
  pending: Gauge<'source'>;
}

/**
 * The relay's metrics in `registry`. The pending gauge is read on scrape from `pendingCounts`,
 * one callback per source (sources without a count are left out).
 */
export function createRelayMetrics(
  registry: Registry,
  pendingCounts: () => Map<string, () => Promise<number>>,
): RelayMetrics {
  return {
    published: new Counter({
      name: 'locus_relay_events_published_total',
      help: 'Events published to Kafka and marked published, by outbox source',
      labelNames: ['source'],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'locus_relay_batch_size',
      help: 'Events per published batch',
      labelNames: ['source'],
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500],
      registers: [registry],
    }),
    commitToAck: new Histogram({
      name: 'locus_relay_commit_to_ack_seconds',
      help: 'Time from an event being recorded in the outbox to its Kafka acknowledgement',
      labelNames: ['source'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    pending: new Gauge({
      name: 'locus_relay_pending_events',
      help: 'Events in the outbox not yet published',
      labelNames: ['source'],
      registers: [registry],
      async collect() {
        for (const [source, count] of pendingCounts()) {
          try {
            this.set({ source }, await count());
          } catch {
            // A store that does not answer leaves the last value; its health check reports it.
          }
        }
      },
    }),
  };
}
