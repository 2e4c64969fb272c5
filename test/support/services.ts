import { connect } from 'node:net';
import { ADDRESS_VARIABLES } from '../../src/cli/services.command.js';

export { ADDRESS_VARIABLES };

/** The store and broker addresses, and any other LOCUS_* setting (credentials) that came with them. */
export type ServiceAddresses = Record<(typeof ADDRESS_VARIABLES)[number], string> & Record<string, string>;

/** host:port of a URL or a `host:port` broker entry. */
export function endpointOf(address: string): { host: string; port: number } {
  const first = address.split(',')[0] ?? address;
  const url = first.includes('://') ? new URL(first) : new URL(`tcp://${first}`);
  return { host: url.hostname, port: Number(url.port) };
}

export function tcpAnswers(address: string, timeoutMs = 2_000): Promise<boolean> {
  const { host, port } = endpointOf(address);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
