import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface RelayMetrics {
  published: Counter<'source'>;
  batchSize: Histogram<'source'>;
  /** Outbox `created_at` (commit of the write) to the broker's acknowledgement. */
  commitToAck: Histogram<'source'>;
  pending: Gauge<'source'>;
  /** Events the relay found it can never publish (too large even alone), parked as dead letters. */
  parked: Counter<'source'>;
  deadLetters: Gauge<'source'>;
}

/**
 * The relay's metrics in `registry`. The pending and dead-letter gauges are read on scrape from
 * `pendingCounts` and `deadLetterCounts`, one callback per source (sources without a count are left out).
 */
export function createRelayMetrics(
  registry: Registry,
  pendingCounts: () => Map<string, () => Promise<number>>,
  deadLetterCounts: () => Map<string, () => Promise<number>> = () => new Map(),
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
    parked: new Counter({
      name: 'locus_relay_events_parked_total',
      help: 'Events the relay could never publish (too large even alone) and parked, by outbox source',
      labelNames: ['source'],
      registers: [registry],
    }),
    deadLetters: new Gauge({
      name: 'locus_relay_dead_letters',
      help: 'Outbox events parked as relay dead letters, waiting for an operator to retry or skip them',
      labelNames: ['source'],
      registers: [registry],
      async collect() {
        await collectCounts(this, deadLetterCounts());
      },
    }),
    pending: new Gauge({
      name: 'locus_relay_pending_events',
      help: 'Events in the outbox not yet published',
      labelNames: ['source'],
      registers: [registry],
      async collect() {
        await collectCounts(this, pendingCounts());
      },
    }),
  };
}

async function collectCounts(gauge: Gauge<'source'>, counts: Map<string, () => Promise<number>>) {
  for (const [source, count] of counts) {
    try {
      gauge.set({ source }, await count());
    } catch {
      // A store that does not answer leaves the last value; its health check reports it.
    }
  }
}
