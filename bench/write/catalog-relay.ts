import { setTimeout as sleep } from 'node:timers/promises';
import type * as hdr from 'hdr-histogram-js';
import type pg from 'pg';
import type { MessageProducer } from '../../src/messaging/kafka.js';
import { PostgresOutboxSource } from '../../src/relay/postgres-outbox.source.js';
import { runRelay, type RunningRelay } from '../../src/relay/relay.js';
import type { Logger } from '../../src/shared/logger.js';

/**
 * The relay run in this process over the benchmark's catalog database, started and stopped per phase.
 * While `commitToAck` holds a histogram, every published event's outbox created_at → Kafka ack goes in.
 */
export class RelayHarness {
  commitToAck: hdr.Histogram | undefined;
  private relay: RunningRelay | undefined;
  private source: PostgresOutboxSource | undefined;

  constructor(
    private readonly dbUrl: string,
    private readonly pool: pg.Pool,
    private readonly producer: MessageProducer,
    private readonly logger: Logger,
  ) {}

  start(batchSize: number, onPublished?: (events: number) => void): void {
    this.source = new PostgresOutboxSource({ url: this.dbUrl });
    this.relay = runRelay(this.source, this.producer, {
      logger: this.logger,
      batchSize,
      onPublished: (events, ackedAt) => {
        for (const event of events) {
          if (event.createdAt)
            this.commitToAck?.recordValue(
              Math.max(1, (ackedAt.getTime() - event.createdAt.getTime()) * 1000),
            );
        }
        onPublished?.(events.length);
      },
    });
  }

  async stop(): Promise<void> {
    await this.relay?.stop();
    await this.source?.close();
    this.relay = undefined;
    this.source = undefined;
  }

  /** Outbox rows not yet published. */
  async pending(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM outbox WHERE published_at IS NULL',
    );
    return Number(rows[0]?.n);
  }

  /** Resolves once the outbox has nothing left to publish, checking every `everyMs`. */
  async drained(everyMs: number): Promise<void> {
    while ((await this.pending()) > 0) await sleep(everyMs);
  }
}

/** Fills the outbox with `count` product events in one statement, the relay stopped. */
export async function fillBacklog(pool: pg.Pool, topic: string, count: number): Promise<void> {
  await pool.query(
    `INSERT INTO outbox (event_id, topic, partition_key, aggregate_type, aggregate_id, aggregate_version, envelope)
     SELECT s.id, $1, s.key, 'product', s.key, 1, jsonb_build_object(
       'specversion', '1.0', 'id', s.id, 'source', '/locus/catalog', 'type', 'locus.catalog.product.created.v1',
       'subject', s.key, 'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       'datacontenttype', 'application/json', 'aggregatetype', 'product', 'aggregateversion', 1,
       'data', jsonb_build_object('id', s.key, 'sku', 'BACKLOG-' || g, 'name', 'Backlog product ' || g,
         'description', 'filled by the write benchmark', 'categoryId', null,
         'price', jsonb_build_object('amount', g, 'currency', 'EUR'), 'attributes', '{}'::jsonb,
         'createdAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'updatedAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
     FROM (SELECT g, gen_random_uuid() AS id, gen_random_uuid()::text AS key
           FROM generate_series(1, $2) g) s`,
    [topic, count],
  );
}
