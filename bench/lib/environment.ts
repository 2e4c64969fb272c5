import path from 'node:path';
import { MongoClient } from 'mongodb';
import { LOCUS_HOME, readEnvFile } from '../../src/cli/services.command.js';
import { topicNames, topicSpecs, type Topics } from '../../src/contracts/topics.js';
import { kafkaCredentials } from '../../src/messaging/kafka-credentials.js';
import { createBroker, type Broker } from '../../src/messaging/kafka.js';
import { setupTopicsForEnv } from '../../src/migrate/kafka.setup.js';
import type { MigrationTarget } from '../../src/migrate/migrator.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import { benchToken } from './auth.js';
import {
  createTestDatabase,
  uniqueMongoUrl,
  uniqueName,
  type TestDatabase,
} from '../../testkit/isolation.js';

/** Ports of the five locus processes, counted up from a base (query, catalog, reviews, projector, relay). */
export const LOCUS_PROCESSES = ['catalog', 'reviews', 'relay', 'projector', 'query'] as const;
export type LocusProcess = (typeof LOCUS_PROCESSES)[number];

export function portsFrom(base: number): Record<LocusProcess, number> {
  return { query: base, catalog: base + 1, reviews: base + 2, projector: base + 3, relay: base + 4 };
}

/**
 * What one benchmark run creates on the shared services (databases, a Mongo database, topics, locus
 * processes), each undone by `close()` in reverse order, also on SIGINT/SIGTERM (exit 130/143). Built on
 * the tests' isolation helpers, so a run never touches another run's or a test's data.
 */
export class BenchEnvironment {
  /** A short unique stamp for names and log folders. */
  readonly stamp = uniqueName('bench');
  readonly logger: Logger;
  private readonly undo: { label: string; run: () => Promise<unknown> }[] = [];
  private closing: Promise<void> | undefined;
  private sharedBroker: Broker | undefined;

  constructor(readonly name: string) {
    // Addresses from `services up` unless the caller set its own (bench/index.ts does the same).
    Object.assign(process.env, { ...readEnvFile(), ...process.env });
    benchToken(); // before any process starts, so they all accept what the benchmark sends
    this.logger = createLogger(`bench-${name}`, 'warn');
  }

  /** An address the services must have given, e.g. LOCUS_KAFKA_BROKERS. @throws Error when unset. */
  address(variable: string): string {
    const value = process.env[variable];
    if (!value) throw new Error(`${variable} is not set: run \`locus services up\` or set it`);
    return value;
  }

  /** Registers what `close()` must undo; the last registered is undone first. */
  defer(label: string, run: () => Promise<unknown>): void {
    this.undo.push({ label, run });
  }

  /** A fresh, migrated database of `target`, dropped on close. */
  async database(target: MigrationTarget): Promise<TestDatabase> {
    const database = await createTestDatabase(target);
    this.defer(`drop database ${database.name}`, () => database.drop());
    return database;
  }

  /** A reviews-store database of its own (created on first write), dropped on close. */
  mongoDatabase(): { url: string; database: string } {
    const mongo = uniqueMongoUrl();
    this.defer(`drop Mongo database ${mongo.database}`, async () => {
      const client = new MongoClient(mongo.url, { serverSelectionTimeoutMS: 5_000 });
      try {
        await client.db(mongo.database).dropDatabase();
      } finally {
        await client.close();
      }
    });
    return mongo;
  }

  /** One broker client for the run, closed on close. */
  broker(): Broker {
    if (!this.sharedBroker) {
      const broker = createBroker({
        brokers: this.address('LOCUS_KAFKA_BROKERS'),
        clientId: `bench-${this.name}`,
        logger: this.logger,
        credentials: kafkaCredentials('admin'),
      });
      this.sharedBroker = broker;
      this.defer('close the broker client', () => broker.close());
    }
    return this.sharedBroker;
  }

  /**
   * A topic prefix of its own; its topics (and the dead-letter topic) are deleted on close. With
   * `create`, the topics are made now, as `locus services up` would; otherwise the processes make them.
   * With SASL (an admin login in the env) they are always made now, with the processes' ACLs; the
   * projector may then join `projectorGroup` (the group its processes run with) and no other.
   */
  async topics(
    options: { create?: boolean; projectorGroup?: string } = {},
  ): Promise<{ prefix: string; topics: Topics }> {
    const prefix = `${uniqueName(`bench_${this.name.replaceAll('-', '_')}`)}.`;
    const topics = topicNames(prefix);
    const broker = this.broker();
    this.defer(`delete topics ${prefix}*`, () =>
      broker.deleteTopics([topics.products, topics.categories, topics.reviews, `${prefix}dead-letter`]),
    );
    // A broker with SASL: the processes, each logged in as its own user, may not create topics; they
    // are made and granted here, as `locus migrate` does.
    if (kafkaCredentials('admin')) {
      const group = options.projectorGroup ?? process.env.LOCUS_PROJECTOR_GROUP ?? 'locus-projector';
      await setupTopicsForEnv(broker, prefix, group);
    } else if (options.create) await broker.ensureTopics(topicSpecs(topics));
    return { prefix, topics };
  }

  /** A supervisor for locus processes (logs under ~/.locus/logs/bench-<name>-…), all stopped on close. */
  processes(env: NodeJS.ProcessEnv): ProcessSupervisor {
    const supervisor = new ProcessSupervisor(
      path.join(LOCUS_HOME, 'logs', this.stamp.replace('bench', `bench-${this.name}`)),
      {
        ...process.env,
        LOCUS_LOG_LEVEL: 'warn',
        ...env,
      },
    );
    this.defer('stop the locus processes', () => supervisor.stopAll());
    return supervisor;
  }

  /** Undoes everything registered, newest first; a failed step is reported and the rest still run. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const { label, run } of this.undo.reverse()) {
        await run().catch((error: unknown) => console.warn(`  could not ${label}: ${String(error)}`));
      }
    })();
    return this.closing;
  }
}

/**
 * Opens a benchmark's environment and closes it when the process is interrupted, so an interrupted run
 * leaves no databases, topics or processes behind.
 */
export function openEnvironment(name: string): BenchEnvironment {
  const environment = new BenchEnvironment(name);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      console.log(`\n▸ ${signal}: stopping processes and dropping what this run created`);
      void environment.close().finally(() => process.exit(code));
    });
  }
  return environment;
}

/**
 * Runs a benchmark's body in its environment and always closes it afterwards; a failure is printed
 * and sets exit code 1.
 */
export async function runBenchmark(
  name: string,
  body: (environment: BenchEnvironment) => Promise<void>,
): Promise<void> {
  const environment = openEnvironment(name);
  try {
    await body(environment);
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  } finally {
    await environment.close();
  }
}
