import type pg from 'pg';
import type { Logger } from '../shared/logger.js';
import { Deadline } from './deadline.js';
import {
  linkOf,
  needsProbe,
  probeLink,
  type Link,
  type LinkProbe,
  type LinkSetting,
} from './link.estimate.js';
import type { ReadStore } from './read-store.js';
import { readColumnStats, rowWidthsFor, tableWidthsOf, type TableWidths } from './row-widths.js';
import { readReplicaStatistics, type ReplicaStatistics } from './routing.statistics.js';
import type { HeavyQuery, LinkEstimate, RowWidths } from './strategy.router.js';

/** What the `auto` rule weighs: the replica's row statistics, row widths and the link. */
export interface RoutingInputs {
  statistics: ReplicaStatistics;
  widths: TableWidths;
  /** Null while a measured half of the link is unknown (its probe failed): the rule then counts rows. */
  link: Link | null;
  /** When these were read (the clock's milliseconds). */
  readAt: number;
}

export interface RoutingInputsOptions {
  store: ReadStore;
  link: LinkSetting;
  /** How old the inputs may grow before a request triggers a refresh in the background. */
  refreshMs: number;
  logger?: Logger;
  now?: () => number;
}

/** Time one refresh (pg_class, pg_stats and the link probe) may take. */
const REFRESH_DEADLINE_MS = 5_000;
/**
 * A measured link is probed again only every this many refreshes: its throughput probe moves
 * megabytes, which on a slow link would stall the requests it shares the link with, while statistics
 * change with the data and links rarely do.
 */
const REFRESHES_PER_LINK_PROBE = 10;

/**
 * Table sizes, the created_at histogram and row widths from the planner statistics, and the link to
 * the replica, read now and then rather than per request, so `auto` adds no round trip:
 * the first heavy request waits for them, later ones get the current values at once while an old set
 * is refreshed behind them. A failed refresh keeps the previous values (and is logged).
 */
export class RoutingInputsSource {
  private inputs: RoutingInputs | undefined;
  private refreshing: Promise<void> | undefined;
  private lastProbe: { probe: LinkProbe; at: number } | undefined;
  private readonly now: () => number;

  constructor(private readonly options: RoutingInputsOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** The current inputs, or undefined when they could never be read. Never throws. */
  async current(): Promise<RoutingInputs | undefined> {
    if (!this.inputs) {
      await this.refresh();
    } else if (this.now() - this.inputs.readAt >= this.options.refreshMs) {
      void this.refresh();
    }
    return this.inputs;
  }

  /** Reads the inputs again; concurrent callers share one refresh. */
  refresh(): Promise<void> {
    this.refreshing ??= this.read()
      .then((inputs) => {
        this.inputs = inputs;
      })
      .catch((error: unknown) => {
        this.options.logger?.warn({ err: error }, 'routing inputs not refreshed; keeping the previous ones');
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async read(): Promise<RoutingInputs> {
    const { store, link } = this.options;
    return store.onReplica(new Deadline(REFRESH_DEADLINE_MS), 'routing inputs', async (pool) => {
      const client = await pool.connect();
      try {
        const statistics = await readReplicaStatistics(client);
        const stats = await readColumnStats(client);
        const probe = needsProbe(link) ? await this.probe(client) : undefined;
        return { statistics, widths: tableWidthsOf(stats), link: linkOf(link, probe), readAt: this.now() };
      } finally {
        client.release();
      }
    });
  }

  /** The last probe while it is recent enough, else a new one. */
  private async probe(client: pg.PoolClient): Promise<LinkProbe> {
    const maxAgeMs = this.options.refreshMs * REFRESHES_PER_LINK_PROBE;
    if (this.lastProbe === undefined || this.now() - this.lastProbe.at >= maxAgeMs) {
      this.lastProbe = { probe: await probeLink(client), at: this.now() };
    }
    return this.lastProbe.probe;
  }
}

/** The rule's inputs for one query, and a line saying what they were and where they came from. */
export function routingInputsFor(
  query: HeavyQuery,
  inputs: RoutingInputs | undefined,
): { widths?: RowWidths; link?: LinkEstimate; note: string } {
  if (!inputs?.link) return { note: 'row widths or link unknown: rows counted' };
  const widths = rowWidthsFor(query, inputs.widths);
  const { link } = inputs;
  const statsNote =
    inputs.widths.measuredColumns === inputs.widths.columns
      ? 'pg_stats'
      : `pg_stats for ${inputs.widths.measuredColumns}/${inputs.widths.columns} columns`;
  return {
    widths,
    link: { rttMs: link.rttMs, bytesPerSecond: link.bytesPerSecond },
    note:
      `row bytes review ${widths.review}, product ${widths.product}, result ${widths.result} (${statsNote}); ` +
      `RTT ${link.rttSource}, throughput ${link.throughputSource}`,
  };
}
