import { LocusError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { AnalyticsPathChoice } from './analytics.path.js';
import type { Window } from './analytics.types.js';
import type { Deadline } from './deadline.js';
import type { ReadStore } from './read-store.js';
import { routingInputsFor, type RoutingInputsSource } from './routing.inputs.js';
import { readReplicaStatistics, rowEstimatesFor, type ReplicaStatistics } from './routing.statistics.js';
import {
  chooseStrategy,
  type RoutingDecision,
  type RoutingInput,
  type Strategy,
  type StrategyChoice,
} from './strategy.router.js';

export interface QueryRouterDeps {
  store: ReadStore;
  /** Whether clients may ask for `strategy=composition` (LOCUS_QUERY_COMPOSITION). */
  compositionEnabled: boolean;
  /** Row statistics, widths and the link; without them `auto` reads statistics per request and counts rows. */
  inputs?: RoutingInputsSource;
  logger?: Logger;
}

/** What a heavy query tells the router about itself; the router adds the replica's estimates. */
export type RouteShape = Omit<
  RoutingInput,
  'stats' | 'windowFraction' | 'localityRowsRead' | 'widths' | 'link'
>;

/**
 * Turns a client's `strategy` into the strategy that runs. `auto` weighs the statistics, row widths
 * and link the inputs source keeps (no round trip of its own: the strategy's run checks the replica's
 * freshness) and asks `chooseStrategy`; the decision's reason names every input, for the
 * `Locus-Routing` header and a debug log line.
 */
export class QueryRouter {
  constructor(private readonly deps: QueryRouterDeps) {}

  /**
   * @throws LocusError LOCUS_COMPOSITION_DISABLED when composition is asked for and switched off; the
   *   replica's errors (unavailable, deadline) when the inputs were never read and `auto` cannot read
   *   the statistics for this request either.
   */
  async resolve(
    choice: StrategyChoice,
    deadline: Deadline,
    route: RouteShape,
    window: Window & { path?: AnalyticsPathChoice },
  ): Promise<{ strategy: Strategy; decision?: RoutingDecision }> {
    if (choice === 'composition' && !this.deps.compositionEnabled) {
      throw new LocusError(
        'LOCUS_COMPOSITION_DISABLED',
        'strategy=composition is switched off on this service (LOCUS_QUERY_COMPOSITION); use auto, locality or service-join',
        { details: [{ field: 'querystring/strategy', message: 'composition is disabled' }] },
      );
    }
    if (choice !== 'auto') return { strategy: choice };
    const current = await this.deps.inputs?.current();
    const inputs = routingInputsFor(route.query, current);
    const statistics = current?.statistics ?? (await this.statisticsNow(deadline));
    const { note, ...estimates } = rowEstimatesFor(statistics, route.query, window);
    const chosen = chooseStrategy({ ...route, ...estimates, widths: inputs.widths, link: inputs.link });
    const decision = { ...chosen, reason: `${chosen.reason}; ${inputs.note}; ${note}` };
    this.deps.logger?.debug(
      { query: route.query, strategy: decision.strategy, ...estimates, reason: decision.reason },
      'auto routed a heavy query',
    );
    return { strategy: decision.strategy, decision };
  }

  /** The statistics read for this request alone: only while the inputs could never be read. */
  private statisticsNow(deadline: Deadline): Promise<ReplicaStatistics> {
    return this.deps.store.inReplicaSnapshot(deadline, 'routing statistics', readReplicaStatistics);
  }
}
