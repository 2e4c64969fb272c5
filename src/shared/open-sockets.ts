import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Where Node publishes every socket `net.connect` creates (the Kafka and MongoDB drivers' included)
 * and every connection a server accepts.
 */
const SOCKET_CHANNELS = ['net.client.socket', 'net.server.socket'] as const;

export interface OpenSockets {
  /**
   * For after every client and server was closed: waits up to `settleMs` for the sockets still open
   * to finish closing, destroys the rest and resolves once all are closed, with the peers of those it
   * destroyed.
   */
  closeRemaining(settleMs: number): Promise<string[]>;
}

/**
 * Tracks the sockets the process opens or accepts from now on, so a shutdown can make sure none
 * outlives the close. Why: a driver's close may return with sockets still open. kafkajs ends its
 * sockets without waiting for the broker's side; the mongodb driver cannot cancel a connection still
 * in its handshake (FerretDB authenticates through PostgreSQL, slow under load), which stays open
 * until the handshake answers. Each keeps the event loop alive, so a process whose close had returned
 * could still be running, and exit 1, when its grace period ran out.
 */
export function trackSockets(): OpenSockets {
  const open = new Set<net.Socket>();
  const onSocket = (message: unknown) => {
    const { socket } = message as { socket: net.Socket };
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  for (const channel of SOCKET_CHANNELS) subscribe(channel, onSocket);
  return {
    async closeRemaining(settleMs) {
      for (const channel of SOCKET_CHANNELS) unsubscribe(channel, onSocket);
      for (const deadline = performance.now() + settleMs; open.size > 0 && performance.now() < deadline;)
        await sleep(5);
      const remaining = [...open];
      const closed = remaining.map((socket) => new Promise((resolve) => socket.once('close', resolve)));
      const peers = remaining.map((socket) => `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
      for (const socket of remaining) socket.destroy();
      await Promise.all(closed);
      return peers;
    },
  };
}
