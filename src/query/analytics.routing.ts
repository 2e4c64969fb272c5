import type pg from 'pg';
import { LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Window } from './analytics.types.js';
import type { Deadline } from './deadline.js';
import type { ReadStore } from './read-store.js';
import { routingInputsFor, type RoutingInputsSource } from './routing.inputs.js';
import {
  chooseStrategy,
  type RoutingDecision,
  type RoutingInput,
  type Strategy,
  type StrategyChoice,
  type TableStats,
} from './strategy.router.js';

/**
 * Row-count statistics of the replica (planner estimates). `reltuples` is -1 for a table never
 * analysed; then the planner's own row estimate for a full scan stands in. The window's share of the
 * reviews comes from the planner's estimate for the window predicate.
 */
async function replicaStats(
  db: pg.PoolClient,
  window: Window,
): Promise<{ stats: TableStats; windowFraction: number }> {
  const { rows } = await db.query<{ relname: string; reltuples: number }>(
    `SELECT relname, reltuples::float8 AS reltuples FROM pg_class
     WHERE relname IN ('product_summary', 'review_view', 'category_view') AND relnamespace = 'public'::regnamespace`,
  );
  const planRows = async (sql: string, values: unknown[] = []) => {
    const { rows: plan } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
      `EXPLAIN (FORMAT JSON) ${sql}`,
      values,
    );
    return plan[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0;
  };
  const estimate = async (table: string) => {
    const reltuples = rows.find((row) => row.relname === table)?.reltuples ?? -1;
    return reltuples >= 0 ? reltuples : planRows(`SELECT 1 FROM ${table}`);
  };
  const stats = {
    products: await estimate('product_summary'),
    reviews: await estimate('review_view'),
    categories: await estimate('category_view'),
  };
  const inWindow = await planRows('SELECT 1 FROM review_view WHERE created_at >= $1 AND created_at < $2', [
    window.from,
    window.to,
  ]);
  return { stats, windowFraction: stats.reviews > 0 ? Math.min(1, inWindow / stats.reviews) : 1 };
}

export interface QueryRouterDeps {
  store: ReadStore;
  /** Whether clients may ask for `strategy=composition` (LOCUS_QUERY_COMPOSITION). */
  compositionEnabled: boolean;
  /** Row widths and the link; without them `auto` counts rows only. */
  inputs?: RoutingInputsSource;
  logger?: Logger;
}

/** What a heavy query tells the router about itself; the router adds the replica's estimates. */
export type RouteShape = Omit<RoutingInput, 'stats' | 'windowFraction' | 'widths' | 'link'>;

/**
 * Turns a client's `strategy` into the strategy that runs. `auto` reads the replica's row estimates
 * per request and the row widths and link the inputs source keeps, and asks `chooseStrategy`; the
 * decision's reason names every input, for the `Locus-Routing` header and a debug log line.
 */
export class QueryRouter {
  constructor(private readonly deps: QueryRouterDeps) {}

  /**
   * @throws LocusError LOCUS_COMPOSITION_DISABLED when composition is asked for and switched off; the
   *   replica's errors (unavailable, lagging, deadline) when `auto` cannot read its estimates.
   */
  async resolve(
    choice: StrategyChoice,
    deadline: Deadline,
    route: RouteShape,
    window: Window,
  ): Promise<{ strategy: Strategy; decision?: RoutingDecision }> {
    if (choice === 'composition' && !this.deps.compositionEnabled) {
      throw new LocusError(
        'LOCUS_COMPOSITION_DISABLED',
        'strategy=composition is switched off on this service (LOCUS_QUERY_COMPOSITION); use auto, locality or service-join',
        { details: [{ field: 'querystring/strategy', message: 'composition is disabled' }] },
      );
    }
    if (choice !== 'auto') return { strategy: choice };
    const { store } = this.deps;
    await store.requireFreshReplica(deadline);
    const inputs = routingInputsFor(route.query, await this.deps.inputs?.current());
    const { stats, windowFraction } = await store.inReplicaSnapshot(deadline, 'routing statistics', (db) =>
      replicaStats(db, window),
    );
    const chosen = chooseStrategy({
      ...route,
      stats,
      windowFraction,
      widths: inputs.widths,
      link: inputs.link,
    });
    const decision = { ...chosen, reason: `${chosen.reason}; ${inputs.note}` };
    this.deps.logger?.debug(
      { query: route.query, strategy: decision.strategy, stats, windowFraction, reason: decision.reason },
      'auto routed a heavy query',
    );
    return { strategy: decision.strategy, decision };
  }
}
