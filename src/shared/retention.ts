import { Counter, type Registry } from 'prom-client';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/** One store's retention: what it purges, after how long, one bounded chunk at a time. */
export interface RetentionJob {
  /** What is purged, for the log line and the metric's `store` label, e.g. `idempotency_keys`. */
  name: string;
  /** How long a record is kept once it may be purged at all (a key from its use, a letter from its resolution). */
  retentionMs: number;
  /**
   * Deletes at most `limit` purgeable records older than `olderThan`.
   * @returns how many it deleted; fewer than `limit` means nothing older is left to delete now.
   */
  purgeChunk(olderThan: Date, limit: number): Promise<number>;
}

export interface RetentionOptions {
  clock: Clock;
  logger: Logger;
  /** The process's registry: `locus_retention_purged_total{store}` counts what each job deleted. */
  metrics?: Registry;
  /** Time between rounds; the first round runs at start. */
  intervalMs: number;
  /** Most records one statement deletes, so no purge holds locks or memory for long (default 1,000). */
  chunk?: number;
}

export interface RunningRetention {
  /** One round of every job now (what the interval does); @returns what each job deleted. */
  runOnce(): Promise<Record<string, number>>;
  /** Stops the interval and waits for a round in progress. */
  stop(): Promise<void>;
}

/**
 * Runs the retention purges of the process that owns the stores, on an interval. A round deletes each
 * job's records older than its cutoff in chunks until a chunk comes back short, logs what it deleted
 * and counts it. A failing job is logged and tried again next round; it never stops the process.
 */
export function startRetention(jobs: RetentionJob[], options: RetentionOptions): RunningRetention {
  const chunk = options.chunk ?? 1_000;
  const purged = purgedCounter(options.metrics);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<unknown> = Promise.resolve();

  const purgeJob = async (job: RetentionJob): Promise<number> => {
    const olderThan = new Date(options.clock.now().getTime() - job.retentionMs);
    let total = 0;
    for (let deleted = chunk; deleted >= chunk && !stopped; total += deleted) {
      deleted = await job.purgeChunk(olderThan, chunk);
    }
    return total;
  };

  const runOnce = async (): Promise<Record<string, number>> => {
    const counts: Record<string, number> = {};
    for (const job of jobs) {
      try {
        counts[job.name] = await purgeJob(job);
        purged?.inc({ store: job.name }, counts[job.name]);
        if (counts[job.name]! > 0) {
          options.logger.info({ store: job.name, purged: counts[job.name] }, 'retention purge');
        }
      } catch (error) {
        options.logger.warn({ err: error, store: job.name }, 'retention purge failed; next round retries');
      }
    }
    return counts;
  };

  const schedule = () => {
    if (stopped) return;
    round = runOnce().finally(() => {
      if (!stopped) timer = setTimeout(schedule, options.intervalMs);
    });
  };
  schedule();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round.catch(() => undefined);
    },
  };
}

function purgedCounter(registry: Registry | undefined): Counter<'store'> | undefined {
  if (!registry) return undefined;
  const name = 'locus_retention_purged_total';
  return (
    (registry.getSingleMetric(name) as Counter<'store'> | undefined) ??
    new Counter({
      name,
      help: 'Records deleted by the retention purge, by store',
      labelNames: ['store'],
      registers: [registry],
    })
  );
}
