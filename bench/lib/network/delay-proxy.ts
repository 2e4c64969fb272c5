import net from 'node:net';

/** One forwarded port: connections to `listen` are carried to `target`, each way `delayMs` later. */
export interface DelayRoute {
  listen: { host: string; port: number };
  target: { host: string; port: number };
}

/** Bytes a direction may hold in its delay line before it stops reading its source (backpressure). */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/**
 * Half-open both ways: an end is carried through the delay line like data, after what preceded it. A
 * deep write buffer lets a direction hand the kernel a whole delay line's worth at once instead of
 * stopping at every 16 KB for a drain.
 */
const SOCKET_OPTIONS = { noDelay: true, allowHalfOpen: true, highWaterMark: 1024 * 1024 } as const;
/** Below this, setTimeout (millisecond grain) would overshoot: the rest is waited out by setImmediate. */
const TIMER_GRAIN_MS = 1.5;

/**
 * A delay line for one direction: every chunk read from `source` is written to `sink` `delayMs`
 * after it arrived, in order. Reading pauses while the line holds too much or `sink` pushes back, so
 * TCP flow control reaches the sender as it would across a real link; the end is delayed like data.
 */
export function delayLine(source: net.Socket, sink: net.Socket, delayMs: number): void {
  const queue: { due: number; chunk: Buffer | null }[] = [];
  let queued = 0;
  let waiting = false;
  let blocked = false;

  const flush = (): void => {
    waiting = false;
    while (!blocked && queue.length > 0) {
      const head = queue[0]!;
      const early = head.due - performance.now();
      if (early > 0) {
        waiting = true;
        if (early > TIMER_GRAIN_MS) setTimeout(flush, early - TIMER_GRAIN_MS / 2);
        else setImmediate(flush);
        return;
      }
      queue.shift();
      if (head.chunk === null) {
        sink.end();
        return;
      }
      queued -= head.chunk.length;
      if (!sink.write(head.chunk)) blocked = true;
    }
    if (queued < MAX_QUEUED_BYTES / 2 && source.isPaused()) source.resume();
  };
  const schedule = (chunk: Buffer | null): void => {
    queue.push({ due: performance.now() + delayMs, chunk });
    if (chunk) queued += chunk.length;
    if (queued > MAX_QUEUED_BYTES) source.pause();
    if (!waiting && !blocked) flush();
  };
  sink.on('drain', () => {
    blocked = false;
    if (!waiting) flush();
  });
  source.on('data', (chunk: Buffer) => schedule(chunk));
  source.on('end', () => schedule(null));
}

/**
 * Starts forwarding every route with `rttMs / 2` added each way; resolves once all listen. Closing
 * the returned servers stops new connections; a connection's sockets are destroyed together when
 * either side fails, and each end reaches the other side after the data before it.
 * @throws the listen error (an address in use, or one that is not on this host).
 */
export async function startDelayProxy(routes: DelayRoute[], rttMs: number): Promise<net.Server[]> {
  const oneWayMs = rttMs / 2;
  const servers: net.Server[] = [];
  for (const route of routes) {
    const server = net.createServer({ ...SOCKET_OPTIONS }, (client) => {
      const upstream = net.connect({ ...route.target, ...SOCKET_OPTIONS });
      const closeBoth = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', closeBoth);
      upstream.on('error', closeBoth);
      delayLine(client, upstream, oneWayMs);
      delayLine(upstream, client, oneWayMs);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(route.listen.port, route.listen.host, () => resolve());
    });
    servers.push(server);
  }
  return servers;
}
