import type { Socket } from 'node:net';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';

/**
 * Counts the bytes the query service receives from each backend — the data it moves to itself —
 * so the locality benchmark can compare strategies by what they pull over the network, not only by
 * time. Read at scrape time from the sockets themselves, so the hot path pays nothing.
 */
export class BytesMeter {
  private readonly retired = new Map<string, number>();
  private readonly live = new Map<string, Set<Socket>>();
  private readonly counted = new Map<string, number>();

  constructor(registry: Registry) {
    const gauge: Gauge<'backend'> = new Gauge({
      name: 'locus_query_backend_bytes_received_total',
      help: 'Bytes received from each backend (database sockets, upstream HTTP bodies), since start',
      labelNames: ['backend'],
      registers: [registry],
      collect: () => {
        for (const backend of new Set([
          ...this.retired.keys(),
          ...this.live.keys(),
          ...this.counted.keys(),
        ])) {
          gauge.set({ backend }, this.total(backend));
        }
      },
    });
  }

  /** Meters every connection `pool` opens, under the label `backend`. */
  meterPool(pool: pg.Pool, backend: string): void {
    pool.on('connect', (client) => {
      const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
      const sockets = this.live.get(backend) ?? new Set<Socket>();
      this.live.set(backend, sockets);
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        this.retired.set(backend, (this.retired.get(backend) ?? 0) + socket.bytesRead);
      });
    });
  }

  /** Adds bytes received some other way (an upstream HTTP body). */
  add(backend: string, bytes: number): void {
    this.counted.set(backend, (this.counted.get(backend) ?? 0) + bytes);
  }

  total(backend: string): number {
    let sum = (this.retired.get(backend) ?? 0) + (this.counted.get(backend) ?? 0);
    for (const socket of this.live.get(backend) ?? []) sum += socket.bytesRead;
    return sum;
  }
}
