import net from 'node:net';

/** One request→response turnaround on one connection: when the client spoke, when the answer came. */
interface Turnaround {
  backend: string;
  sentAt: number;
  answeredAt: number;
}

/**
 * A TCP proxy per backend that counts round trips: a turnaround is the client writing after the
 * server last spoke, answered by the server's next bytes. Answers are held back `answerDelayMs`, so
 * the order of events says which round trips waited for which (a client that sends two queries
 * together has both out before either answer), without any timed assertion.
 */
export interface RoundTripCounter {
  /** `url` with its host and port replaced by the proxy for `backend`. */
  via(backend: string, url: string): Promise<string>;
  /** Forgets the turnarounds so far. */
  reset(): void;
  /**
   * The turnarounds answered so far: how many per backend, and the longest chain of them where each
   * was sent only after the one before was answered (the round trips a request waits for in a row).
   */
  tally(): { byBackend: Record<string, number>; sequential: number };
  close(): Promise<void>;
}

export function startRoundTripCounter(answerDelayMs = 25): RoundTripCounter {
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  let turnarounds: Turnaround[] = [];

  const proxy = (backend: string, target: { host: string; port: number }) =>
    net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      let open: { sentAt: number } | undefined;
      client.on('data', (chunk: Buffer) => {
        open ??= { sentAt: performance.now() };
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        setTimeout(() => {
          if (open) turnarounds.push({ backend, sentAt: open.sentAt, answeredAt: performance.now() });
          open = undefined;
          if (!client.destroyed) client.write(chunk);
        }, answerDelayMs);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => setTimeout(() => client.destroy(), answerDelayMs));
    });

  return {
    async via(backend, url) {
      const parsed = new URL(url);
      const server = proxy(backend, { host: parsed.hostname, port: Number(parsed.port || 5432) });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      parsed.hostname = '127.0.0.1';
      parsed.port = String((server.address() as net.AddressInfo).port);
      return parsed.toString();
    },
    reset() {
      turnarounds = [];
    },
    tally() {
      const byBackend: Record<string, number> = {};
      const depth: number[] = [];
      const ordered = [...turnarounds].sort((a, b) => a.sentAt - b.sentAt);
      ordered.forEach((turn, i) => {
        byBackend[turn.backend] = (byBackend[turn.backend] ?? 0) + 1;
        const before = ordered.slice(0, i).filter((other) => other.answeredAt <= turn.sentAt);
        depth.push(1 + Math.max(0, ...before.map((other) => depth[ordered.indexOf(other)]!)));
      });
      return { byBackend, sequential: Math.max(0, ...depth) };
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}
