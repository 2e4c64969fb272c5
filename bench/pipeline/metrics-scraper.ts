import { round } from '../lib/stats.js';
import { histogramOf, parsePrometheus, sumOf, type HistogramSnapshot } from './prometheus.js';
import { now } from './freshness-poller.js';

/** One scrape of the projector's and the relay's /metrics, `t` seconds after the first step began. */
export interface MetricsPoint {
  t: number;
  eventsApplied: number;
  lag: number;
  relayPublished: number;
  relayPending: number;
}

/** The relay's commit → ack histogram and the projector's batch totals, for per-step deltas. */
export interface CumulativeMetrics {
  commitToAck: HistogramSnapshot;
  batches: { count: number; seconds: number; events: number };
}

/** Scrapes the projector and the relay every second into `series` while started. */
export class MetricsScraper {
  readonly series: MetricsPoint[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private scraping = false;

  constructor(
    private readonly projectorUrl: string,
    private readonly relayUrl: string,
    /** The run's time zero (`now()`), from which `t` counts. */
    readonly t0: number,
  ) {}

  private async scrape() {
    const get = (url: string) =>
      fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text());
    const [projectorText, relayText] = await Promise.all([get(this.projectorUrl), get(this.relayUrl)]);
    return { projector: parsePrometheus(projectorText), relay: parsePrometheus(relayText) };
  }

  async cumulative(): Promise<CumulativeMetrics> {
    const { relay, projector } = await this.scrape();
    return {
      commitToAck: histogramOf(relay, 'locus_relay_commit_to_ack_seconds', 'source'),
      batches: {
        count: sumOf(projector, 'locus_projector_batch_duration_seconds_count'),
        seconds: sumOf(projector, 'locus_projector_batch_duration_seconds_sum'),
        events: sumOf(projector, 'locus_projector_batch_size_sum'),
      },
    };
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.scraping) return;
      this.scraping = true;
      const t = (now() - this.t0) / 1000;
      void this.scrape()
        .then(({ projector, relay }) =>
          this.series.push({
            t: round(t, 2),
            eventsApplied: sumOf(projector, 'locus_projector_events_applied_total'),
            lag: sumOf(projector, 'locus_projector_consumer_lag'),
            relayPublished: sumOf(relay, 'locus_relay_events_published_total'),
            relayPending: sumOf(relay, 'locus_relay_pending_events'),
          }),
        )
        .catch(() => undefined)
        .finally(() => (this.scraping = false));
    }, 1_000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
