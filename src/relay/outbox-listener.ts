import pg from 'pg';
import type { Logger } from '../shared/logger.js';

/**
 * A dedicated connection that LISTENs on one channel and calls `onNotify` for each notification.
 * A lost connection is re-opened with backoff; until then the relay's poll interval covers, and one
 * wake-up is sent after every reconnect (notifications sent while away are gone).
 */
export class OutboxListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly onNotify: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'locus-relay-listen' });
    client.on('notification', () => this.onNotify());
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
      this.failures = 0;
      this.onNotify();
    } catch (error) {
      this.lost(client, error);
    }
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    this.failures += 1;
    const delay = Math.min(200 * 2 ** this.failures, 10_000);
    this.logger.warn({ err: error, retryInMs: delay }, 'outbox listener lost its connection');
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
