import { loadConfig, portOf, positiveOf, type Config } from '../shared/config.js';
import { systemClock } from '../shared/clock.js';
import { closeHttpServer } from '../shared/http-server.js';
import { createLogger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { createPool } from '../shared/postgres.js';
import { runUntilSignal, type RunningProcess } from '../shared/process-runner.js';
import type { ResilienceOptions } from '../query/backend.policy.js';
import { BytesMeter } from '../query/bytes-meter.js';
import { buildQueryApp, readsNeedTokenOf } from '../query/query.app.js';
import { loadApiTokens, serviceToken } from '../shared/auth.tokens.js';
import { compositionOf } from '../query/composition.setting.js';
import { linkSettingOf } from '../query/link.estimate.js';
import { ReadStore } from '../query/read-store.js';
import { perMinuteOf } from '../shared/rate-limit.js';
import type { RequestSettings } from '../query/request-context.js';
import { ExportApi } from '../query/upstream.client.js';

const SETTINGS = [
  'LOCUS_READ_REPLICA_URL',
  'LOCUS_QUERY_DB_URL',
  'LOCUS_CATALOG_URL',
  'LOCUS_REVIEWS_URL',
  'LOCUS_QUERY_PORT',
  'LOCUS_HOST',
  'LOCUS_MAX_REPLICA_LAG_MS',
  'LOCUS_CONSISTENCY_WAIT_MS',
  'LOCUS_QUERY_DEADLINE_MS',
  'LOCUS_QUERY_EXPORT_DEADLINE_MS',
  'LOCUS_QUERY_MAX_DEADLINE_MS',
  'LOCUS_QUERY_STATEMENT_TIMEOUT_MS',
  'LOCUS_BREAKER_FAILURES',
  'LOCUS_BREAKER_HALF_OPEN_MS',
  'LOCUS_RATE_LIMIT_HEAVY_PER_MINUTE',
  'LOCUS_QUERY_COMPOSITION',
  'LOCUS_QUERY_EXPORT_IDLE_MS',
  'LOCUS_QUERY_READS',
  'LOCUS_QUERY_LINK_RTT_MS',
  'LOCUS_QUERY_LINK_MBPS',
  'LOCUS_QUERY_ROUTING_REFRESH_SECONDS',
] as const;

/** The query service's composition root: two read-store pools, two upstream APIs, one HTTP server. */
export async function main(): Promise<void> {
  const config = loadConfig(SETTINGS);
  const tokens = loadApiTokens();
  const ownToken = serviceToken();
  const logger = createLogger('query');
  await runUntilSignal('query', logger, async (): Promise<RunningProcess> => {
    const statementTimeoutMs = positiveOf(config, 'LOCUS_QUERY_STATEMENT_TIMEOUT_MS');
    const replica = createPool(config.LOCUS_READ_REPLICA_URL, {
      applicationName: 'locus-query-replica',
      max: 20,
      statementTimeoutMs,
    });
    const primary = createPool(config.LOCUS_QUERY_DB_URL, {
      applicationName: 'locus-query-primary',
      max: 10,
      statementTimeoutMs,
    });
    const metrics = createMetricsRegistry('query');
    const bytes = new BytesMeter(metrics);
    bytes.meterPool(replica, 'replica');
    bytes.meterPool(primary, 'primary');
    const resilience = resilienceOf(config);
    const settings = requestSettingsOf(config);
    const store = new ReadStore({
      replica,
      primary,
      resilience,
      maxReplicaLagMs: positiveOf(config, 'LOCUS_MAX_REPLICA_LAG_MS'),
      statementTimeoutMs,
    });
    const app = await buildQueryApp({
      store,
      catalogApi: new ExportApi(
        'catalog-api',
        config.LOCUS_CATALOG_URL,
        resilience,
        500,
        (n) => bytes.add('catalog-api', n),
        ownToken,
      ),
      reviewsApi: new ExportApi(
        'reviews-api',
        config.LOCUS_REVIEWS_URL,
        resilience,
        500,
        (n) => bytes.add('reviews-api', n),
        ownToken,
      ),
      clock: systemClock,
      logger,
      metrics,
      settings,
      compositionEnabled: compositionOf(config),
      heavyPerMinute: perMinuteOf('LOCUS_RATE_LIMIT_HEAVY_PER_MINUTE', config),
      tokens,
      readsNeedToken: readsNeedTokenOf(config),
      link: linkSettingOf(config),
      routingRefreshMs: positiveOf(config, 'LOCUS_QUERY_ROUTING_REFRESH_SECONDS') * 1000,
    });
    await app.listen({ port: portOf(config, 'LOCUS_QUERY_PORT'), host: config.LOCUS_HOST });
    return {
      async close(drainMs) {
        await closeHttpServer(app, drainMs);
        await Promise.all([replica.end(), primary.end()]);
      },
    };
  });
}

type QueryConfig = Config<(typeof SETTINGS)[number]>;

/** Breakers and retries of every backend: the read store's two pools and the two upstream APIs. */
function resilienceOf(config: QueryConfig): ResilienceOptions {
  return {
    breakerFailures: positiveOf(config, 'LOCUS_BREAKER_FAILURES'),
    halfOpenAfterMs: positiveOf(config, 'LOCUS_BREAKER_HALF_OPEN_MS'),
    retries: 2,
    retryInitialDelayMs: 10,
  };
}

/** Deadlines, windows and waits of every request. */
function requestSettingsOf(config: QueryConfig): RequestSettings {
  return {
    defaultDeadlineMs: positiveOf(config, 'LOCUS_QUERY_DEADLINE_MS'),
    exportDeadlineMs: positiveOf(config, 'LOCUS_QUERY_EXPORT_DEADLINE_MS'),
    maxDeadlineMs: positiveOf(config, 'LOCUS_QUERY_MAX_DEADLINE_MS'),
    consistencyWaitMs: positiveOf(config, 'LOCUS_CONSISTENCY_WAIT_MS'),
    maxWindowDays: 1830,
    defaultWindowDays: 90,
    exportIdleMs: positiveOf(config, 'LOCUS_QUERY_EXPORT_IDLE_MS'),
  };
}
