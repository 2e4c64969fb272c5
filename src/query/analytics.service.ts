import type pg from 'pg';
import type { Logger } from '../shared/logger.js';
import * as aggregate from './analytics.aggregate.js';
import { chooseAnalyticsPath, type AnalyticsPath } from './analytics.path.js';
import { QueryRouter, type RouteShape } from './analytics.routing.js';
import type {
  CategoryReport,
  CategoryReportParams,
  ExportLine,
  ExportParams,
  RatingTrendParams,
  RollupBucket,
  RollupParams,
  TopRatedCategory,
  TopRatedParams,
  TrendPoint,
  Window,
} from './analytics.types.js';
import type { Deadline } from './deadline.js';
import * as procedures from './procedures.js';
import type { ReadStore } from './read-store.js';
import { replicaRowSource } from './replica.rows.js';
import { finishSnapshot, openFreshSnapshot } from './replica.snapshot.js';
import type { RoutingInputsSource } from './routing.inputs.js';
import type { HeavyQuery, RoutingDecision, Strategy, StrategyChoice } from './strategy.router.js';
import { compositionRowSource, type ExportApi } from './upstream.client.js';

export interface AnalyticsDeps {
  store: ReadStore;
  catalogApi: ExportApi;
  reviewsApi: ExportApi;
  /**
   * Whether clients may ask for `strategy=composition` (LOCUS_QUERY_COMPOSITION): one such request
   * pages every review out of the reviews service, so it is off unless configured.
   */
  compositionEnabled: boolean;
  /** The longest statement_timeout of an export's snapshot: the server's export deadline. */
  exportStatementLimitMs: number;
  /** Row widths and the link for `auto`; without them it counts rows only. */
  inputs?: RoutingInputsSource;
  logger?: Logger;
}

export interface Routed<T> {
  value: T;
  strategy: Strategy;
  decision?: RoutingDecision;
  /** The procedure's path (raw or rollup), when locality answered one with two. */
  path?: AnalyticsPath;
}

/**
 * Runs one heavy query by the chosen strategy. Locality and service-join read ONLY the replica (after
 * checking it is reachable and fresh enough); composition reads only the owners' APIs, except that
 * `auto` consults the replica's statistics to decide. Every strategy returns the same answer.
 */
export class AnalyticsService {
  private readonly router: QueryRouter;

  constructor(private readonly deps: AnalyticsDeps) {
    this.router = new QueryRouter(deps);
  }

  private resolve(
    choice: StrategyChoice,
    deadline: Deadline,
    route: RouteShape,
    window: Window,
  ): Promise<{ strategy: Strategy; decision?: RoutingDecision }> {
    return this.router.resolve(choice, deadline, route, window);
  }

  private async run<T>(
    strategy: Strategy,
    deadline: Deadline,
    query: HeavyQuery,
    viaProcedure: (client: pg.PoolClient) => Promise<T>,
    viaRows: (source: aggregate.RowSource) => Promise<T>,
  ): Promise<T> {
    if (strategy === 'composition') {
      return viaRows(compositionRowSource(this.deps.catalogApi, this.deps.reviewsApi, deadline));
    }
    return this.deps.store.inFreshSnapshot(deadline, query, (client) =>
      strategy === 'locality' ? viaProcedure(client) : viaRows(replicaRowSource(client)),
    );
  }

  async topRated(
    choice: StrategyChoice,
    deadline: Deadline,
    params: TopRatedParams,
  ): Promise<Routed<TopRatedCategory[]>> {
    const { strategy, decision } = await this.resolve(
      choice,
      deadline,
      { query: 'top-rated', limitPerCategory: params.limit, narrowed: params.categoryId !== null },
      params,
    );
    const path = chooseAnalyticsPath(params, params.path);
    const value = await this.run(
      strategy,
      deadline,
      'top-rated',
      (client) => procedures.callTopRated(client, params, path),
      (source) => aggregate.topRated(source, params),
    );
    return { value, strategy, decision, path: strategy === 'locality' ? path : undefined };
  }

  async ratingTrend(
    choice: StrategyChoice,
    deadline: Deadline,
    params: RatingTrendParams,
  ): Promise<Routed<TrendPoint[]>> {
    const bucketMs = { day: 86_400_000, week: 7 * 86_400_000, month: 30 * 86_400_000 }[params.bucket];
    const { strategy, decision } = await this.resolve(
      choice,
      deadline,
      {
        query: 'rating-trend',
        buckets: Math.ceil((params.to.getTime() - params.from.getTime()) / bucketMs) + 1,
        narrowed: params.categoryId !== null || params.productId !== null,
      },
      params,
    );
    const path = chooseAnalyticsPath(params, params.path);
    const value = await this.run(
      strategy,
      deadline,
      'rating-trend',
      (client) => procedures.callRatingTrend(client, params, path),
      (source) => aggregate.ratingTrend(source, params),
    );
    return { value, strategy, decision, path: strategy === 'locality' ? path : undefined };
  }

  async categoryReport(
    choice: StrategyChoice,
    deadline: Deadline,
    params: CategoryReportParams,
  ): Promise<Routed<CategoryReport[]>> {
    const { strategy, decision } = await this.resolve(
      choice,
      deadline,
      {
        query: 'category-report',
        priceBands: params.priceEdges.length + 1,
        narrowed: params.categoryId !== null,
      },
      params,
    );
    const path = chooseAnalyticsPath(params, params.path);
    const value = await this.run(
      strategy,
      deadline,
      'category-report',
      (client) => procedures.callCategoryReport(client, params, path),
      (source) => aggregate.categoryReport(source, params),
    );
    return { value, strategy, decision, path: strategy === 'locality' ? path : undefined };
  }

  /**
   * The rollup as a stream of buckets in bucket order. Locality streams them from the replica through
   * a cursor when they may be more than one batch (resolves once the snapshot is open; `buckets` must be consumed to the end, or returned,
   * to release the connection); service-join and composition fold the rows in this process, so their
   * buckets are held in memory until the fold ends.
   */
  async rollup(
    choice: StrategyChoice,
    deadline: Deadline,
    params: RollupParams,
  ): Promise<Routed<AsyncGenerator<RollupBucket>>> {
    const { strategy, decision } = await this.resolve(
      choice,
      deadline,
      { query: 'rollup', groups: params.groups },
      params,
    );
    // At most one cursor batch of buckets: one plain statement reads them in one round trip, where a
    // cursor would take three (describe, fetch, close).
    if (strategy === 'locality' && params.groups > procedures.CURSOR_BATCH_ROWS) {
      const buckets = await this.streamFromSnapshot(
        deadline,
        'rollup',
        this.deps.store.options.statementTimeoutMs,
        (client) => procedures.streamRollup(client, params),
      );
      return { value: buckets, strategy, decision };
    }
    const buckets = await this.run(
      strategy,
      deadline,
      'rollup',
      (client) => procedures.callRollup(client, params),
      (source) => aggregate.rollup(source, params),
    );
    return { value: fromArray(buckets), strategy, decision };
  }

  /**
   * The export as a stream of lines. Resolves once the source is ready (replica checked, connection
   * and snapshot open) so errors before the first byte still become proper HTTP errors; `lines` must
   * be consumed to the end (or returned) to release the connection.
   */
  async exportReviews(
    choice: StrategyChoice,
    deadline: Deadline,
    params: ExportParams,
  ): Promise<Routed<AsyncGenerator<ExportLine>>> {
    const { strategy, decision } = await this.resolve(choice, deadline, { query: 'export' }, params);
    if (strategy === 'composition') {
      const source = compositionRowSource(this.deps.catalogApi, this.deps.reviewsApi, deadline);
      return { value: aggregate.exportLines(source, params), strategy, decision };
    }
    const lines = await this.streamFromSnapshot(
      deadline,
      'export',
      this.deps.exportStatementLimitMs,
      (client) =>
        strategy === 'locality'
          ? procedures.streamReviewExport(client, params)
          : aggregate.exportLines(replicaRowSource(client), params),
    );
    return { value: lines, strategy, decision };
  }

  /**
   * A result streamed through a cursor on a replica connection of its own, in a read-only REPEATABLE
   * READ snapshot whose statement_timeout is the deadline's time left, at most `limitMs`, opened with
   * the replica's freshness check in one round trip (openFreshSnapshot). Opening the snapshot and
   * reading the first item are one call under the replica's breaker, retries and deadline, so a statement that fails at once (its timeout, a recovery conflict) is answered and
   * counted like any other replica failure. The returned stream must be consumed to the end, or
   * returned, to release the connection.
   */
  private async streamFromSnapshot<T>(
    deadline: Deadline,
    what: string,
    limitMs: number,
    read: (client: pg.PoolClient) => AsyncGenerator<T>,
  ): Promise<AsyncGenerator<T>> {
    const store = this.deps.store;
    return store.replicaPolicy.execute(deadline, what, async (signal) => {
      const client = await store.replica.connect();
      await openFreshSnapshot(store, client, deadline, store.statementTimeoutWithin(deadline, limitMs));
      const stream = releasing(client, read(client));
      try {
        const first = await stream.next();
        // Timed out meanwhile: nobody will read this stream, so it is closed here.
        if (signal.aborted) throw new Error(`${what} opened after its deadline`);
        return afterFirst(first, stream);
      } catch (error) {
        await stream.return(undefined);
        throw error;
      }
    });
  }
}

/** `first` (already read from `rest`), then the rest. */
async function* afterFirst<T>(first: IteratorResult<T>, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  if (first.done) return;
  yield first.value;
  yield* rest;
}

/** The buckets a fold produced, as the stream every rollup answers with. */
async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/**
 * Yields the lines, then ends the stream at once and commits behind it (finishSnapshot); an abandoned
 * stream drops its connection instead.
 */
async function* releasing<T>(client: pg.PoolClient, lines: AsyncGenerator<T>): AsyncGenerator<T> {
  let finished = false;
  try {
    yield* lines;
    finished = true;
  } finally {
    if (finished) finishSnapshot(client);
    else client.release(new Error('stream ended early; connection discarded'));
  }
}
