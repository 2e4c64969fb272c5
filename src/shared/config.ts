import { LocusError } from './errors.js';

/**
 * Every setting a locus process reads, with its default. Addresses of stores and the broker have no
 * default: they come only from the environment (`services up` writes them to ~/.locus/env).
 */
const SETTINGS = {
  /** The owner of the catalog store's database, for `locus migrate` only. */
  LOCUS_CATALOG_ADMIN_URL: undefined,
  /** The catalog service's role (locus_catalog); the catalog relay's; locus verify's (read-only). */
  LOCUS_CATALOG_DB_URL: undefined,
  LOCUS_CATALOG_RELAY_DB_URL: undefined,
  LOCUS_VERIFY_CATALOG_DB_URL: undefined,
  /** The owner of the read store's database, for `locus migrate` only. */
  LOCUS_READ_ADMIN_URL: undefined,
  /** The projector's role (locus_projector) on the read primary. */
  LOCUS_READ_DB_URL: undefined,
  /** The query service's read-only role (locus_query): on the read primary, and on the replica. */
  LOCUS_QUERY_DB_URL: undefined,
  LOCUS_READ_REPLICA_URL: undefined,
  /** locus verify's read-only role on the read primary and on the replica. */
  LOCUS_VERIFY_READ_DB_URL: undefined,
  LOCUS_VERIFY_REPLICA_URL: undefined,
  /** The reviews store: its service's and relay's user; locus verify's read-only one, where there is one. */
  LOCUS_MONGO_URL: undefined,
  LOCUS_VERIFY_MONGO_URL: undefined,
  LOCUS_KAFKA_BROKERS: undefined,
  /** Prefix of every topic name, so tests and several deployments can share one broker. */
  LOCUS_TOPIC_PREFIX: 'locus.',
  /** Where the reviews service asks whether a product exists. */
  LOCUS_CATALOG_URL: 'http://127.0.0.1:8081',
  LOCUS_REVIEWS_URL: 'http://127.0.0.1:8082',
  /** Where `locus example --attach` finds the query service and the projector (docker compose). */
  LOCUS_QUERY_URL: 'http://127.0.0.1:8080',
  LOCUS_PROJECTOR_URL: 'http://127.0.0.1:8083',
  LOCUS_QUERY_PORT: '8080',
  LOCUS_CATALOG_PORT: '8081',
  LOCUS_REVIEWS_PORT: '8082',
  LOCUS_PROJECTOR_PORT: '8083',
  /** The projector's consumer group and the name its positions and dead letters are stored under. */
  LOCUS_PROJECTOR_GROUP: 'locus-projector',
  /** The projector reports unhealthy when it has lag and committed nothing for this many seconds. */
  LOCUS_PROJECTOR_STUCK_SECONDS: '30',
  /**
   * Most events one projector transaction applies, live or in a rebuild's replay (a backlog is
   * applied in groups up to this size; as many again are fetched ahead meanwhile). Bigger groups catch up faster — more events per
   * aggregate collapse into one row change — and hold more memory: measured with the heap caps of
   * `PROCESS_NODE_FLAGS`, 10,000 → peak RSS ~212 MB, 25,000 → ~250 MB and 10–25% faster catch-up.
   */
  LOCUS_PROJECTOR_MAX_BATCH_EVENTS: '10000',
  /**
   * The read store ends a projector transaction left idle this long (idle_in_transaction_session_timeout):
   * a frozen projector (a stopped VM, a stop-the-world pause) holding the consumer's lock would
   * otherwise stall the projector that took over its partitions until it woke up.
   */
  LOCUS_PROJECTOR_IDLE_TX_TIMEOUT_SECONDS: '60',
  LOCUS_RELAY_PORT: '8084',
  /**
   * How long a process may take to stop after SIGTERM or SIGINT: half of it for the work in flight,
   * the rest to release connections; then it exits anyway (exit 1). Orchestrators should wait longer.
   */
  LOCUS_SHUTDOWN_GRACE_MS: '15000',
  LOCUS_HOST: '127.0.0.1',
  LOCUS_LOG_LEVEL: 'info',
  /** Query service: heavy queries refuse a replica further behind than this. */
  LOCUS_MAX_REPLICA_LAG_MS: '5000',
  /** Query service: how long a read with a consistency token waits for the view to show it. */
  LOCUS_CONSISTENCY_WAIT_MS: '2000',
  /** Query service: a request's deadline when it sends no Locus-Deadline-Ms, and the cap on it. */
  LOCUS_QUERY_DEADLINE_MS: '5000',
  LOCUS_QUERY_EXPORT_DEADLINE_MS: '60000',
  LOCUS_QUERY_MAX_DEADLINE_MS: '120000',
  /** Query service: server-side statement_timeout of every read-store connection. */
  LOCUS_QUERY_STATEMENT_TIMEOUT_MS: '10000',
  /**
   * Writes (POST, PUT, PATCH, DELETE) one client, by IP address, may send the catalog or the reviews
   * service per minute; more get 429 with Retry-After. The default is a ceiling far above what one
   * client of this machine's benchmarks drives (the pipeline benchmark writes over a thousand a second
   * from one address): it stops a runaway client, not a busy one. Lower it for a deployment.
   */
  LOCUS_RATE_LIMIT_WRITES_PER_MINUTE: '600000',
  /** Query service: `/analytics/*` requests one client, by IP address, may send per minute. */
  LOCUS_RATE_LIMIT_HEAVY_PER_MINUTE: '120000',
  /**
   * Query service: `on` lets clients ask for `strategy=composition`, which pages every review out of
   * the reviews service for one request; `off` (the default) answers it 403 LOCUS_COMPOSITION_DISABLED
   * and `strategy=auto` never picks it.
   */
  LOCUS_QUERY_COMPOSITION: 'off',
  /**
   * Query service: an `/analytics/export` client that reads nothing for this long loses its
   * connection, and the replica connection and snapshot serving it are released.
   */
  LOCUS_QUERY_EXPORT_IDLE_MS: '30000',
  /**
   * Query service: the link to the replica as `strategy=auto` weighs it — round trip in milliseconds,
   * throughput in megabits per second — or `measure` to time a trivial query and a large result
   * against the replica, again every LOCUS_QUERY_ROUTING_REFRESH_SECONDS.
   */
  LOCUS_QUERY_LINK_RTT_MS: 'measure',
  LOCUS_QUERY_LINK_MBPS: 'measure',
  /** Query service: how often the row widths (pg_stats) and a measured link are read again. */
  LOCUS_QUERY_ROUTING_REFRESH_SECONDS: '60',
  /** Query service: consecutive failures that open a backend's breaker, and its half-open delay. */
  LOCUS_BREAKER_FAILURES: '5',
  LOCUS_BREAKER_HALF_OPEN_MS: '5000',
  /** Most outbox events the relay publishes per batch. */
  LOCUS_RELAY_BATCH_SIZE: '500',
  /**
   * The relay's own bound on a produce request, in bytes, and the limit it assumes for a topic whose
   * `max.message.bytes` it cannot read from the broker (Kafka's default message.max.bytes, 1 MiB).
   */
  LOCUS_RELAY_MAX_REQUEST_BYTES: '1048576',
  /** How long published events stay in an outbox before the relay deletes them (default 7 days). */
  LOCUS_OUTBOX_RETENTION_HOURS: '168',
  /**
   * How long an Idempotency-Key is remembered (catalog and reviews): a retry later than this is a new
   * write. Also how long a reviews write outcome outlives its outbox entry.
   */
  LOCUS_IDEMPOTENCY_RETENTION_HOURS: '48',
  /** How long a resolved (retried or skipped) projector dead letter is kept for inspection. */
  LOCUS_DEAD_LETTER_RETENTION_DAYS: '30',
  /** How often the catalog, reviews and projector run their retention purge (the first run is at start). */
  LOCUS_RETENTION_INTERVAL_SECONDS: '3600',
  /**
   * Query service: `open` (the default) serves the reads to anyone; `token` asks a bearer token with
   * the `read` scope on every route but /health, /metrics and /documentation.
   */
  LOCUS_QUERY_READS: 'open',
} as const satisfies Record<string, string | undefined>;

/**
 * Settings read only when set, with no default: the HTTP credentials (see src/shared/auth.tokens.ts).
 * A process with none of the first three accepts no token, so it refuses every write, export and
 * admin call.
 */
interface OptionalSettings {
  /** A JSON file, readable by its owner only, listing `[{name, token, scopes}]`. */
  LOCUS_API_TOKENS_FILE: string;
  /** The same list inline, for deployments that pass secrets as environment variables. */
  LOCUS_API_TOKENS: string;
  /** A development token accepted with every scope (the native stack writes it to ~/.locus/env). */
  LOCUS_DEV_TOKEN: string;
  /** The token a service sends with its calls to other services; LOCUS_DEV_TOKEN when unset. */
  LOCUS_SERVICE_TOKEN: string;
}

export type OptionalSettingName = keyof OptionalSettings;

/** An optional setting's value, or undefined when it is unset or empty. */
export function optionalSetting(
  name: OptionalSettingName,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export type SettingName = keyof typeof SETTINGS;
export type Config<K extends SettingName> = Readonly<Record<K, string>>;

/**
 * Reads the named settings once, at boot, and freezes them.
 * @throws LocusError LOCUS_CONFIG_MISSING naming every required setting that is absent.
 * @example const config = loadConfig(['LOCUS_CATALOG_DB_URL', 'LOCUS_KAFKA_BROKERS']);
 */
export function loadConfig<K extends SettingName>(
  names: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Config<K> {
  const values: Partial<Record<K, string>> = {};
  const missing: string[] = [];
  for (const name of names) {
    const value = env[name] ?? SETTINGS[name];
    if (value === undefined || value === '') missing.push(name);
    else values[name] = value;
  }
  if (missing.length > 0) {
    throw new LocusError(
      'LOCUS_CONFIG_MISSING',
      `missing setting${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: run \`npm run services:up\` and load ~/.locus/env, or set ${missing.join(', ')}`,
      { details: missing.map((field) => ({ field, message: 'required' })) },
    );
  }
  return Object.freeze(values as Record<K, string>);
}

/** Parses a port setting, failing with the setting's name. */
export function portOf(config: Readonly<Record<string, string>>, name: SettingName): number {
  const port = Number(config[name]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LocusError('LOCUS_CONFIG_INVALID', `${name} must be a port number, got "${config[name]}"`);
  }
  return port;
}

/**
 * A setting that must be a positive integer (or, with `kind: 'number'`, any positive number).
 * @throws LocusError LOCUS_CONFIG_INVALID naming the setting and the value it got.
 */
export function positiveOf(
  config: Readonly<Record<string, string>>,
  name: SettingName,
  kind: 'integer' | 'number' = 'integer',
): number {
  const value = Number(config[name]);
  const valid = kind === 'integer' ? Number.isInteger(value) : Number.isFinite(value);
  if (!valid || value <= 0) {
    throw new LocusError('LOCUS_CONFIG_INVALID', `${name} must be a positive ${kind}, got "${config[name]}"`);
  }
  return value;
}
