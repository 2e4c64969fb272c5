import net from 'node:net';

/**
 * A port on 127.0.0.1 that nobody listens on right now: for a child process's server a test wants to
 * reach, or as an address that refuses connections.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
