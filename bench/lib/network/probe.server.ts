import net from 'node:net';

/**
 * The far end of the link's self-check, on this host behind the delay proxy. A connection says what
 * it wants in its first line: `echo` (every byte comes back: round trips), `send <n>` (n bytes come
 * back, then the end: the link's rate towards the service) or `receive <n>` (it sends n bytes and gets
 * one byte once all arrived: the rate from the service).
 */
export async function startProbeServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    let header = '';
    let received = 0;
    let expected = 0;
    let mode: 'echo' | 'receive' | undefined;
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (mode === 'echo') return void socket.write(chunk);
      if (mode === 'receive') return void count(chunk.length);
      header += chunk.toString('latin1');
      const newline = header.indexOf('\n');
      if (newline < 0) return;
      const [verb, size] = header.slice(0, newline).split(' ');
      const rest = chunk.subarray(chunk.length - (header.length - newline - 1));
      if (verb === 'echo') {
        mode = 'echo';
        if (rest.length > 0) socket.write(rest);
      } else if (verb === 'send') {
        void send(socket, Number(size));
      } else if (verb === 'receive') {
        mode = 'receive';
        expected = Number(size);
        count(rest.length);
      } else socket.destroy();
    });
    function count(bytes: number): void {
      received += bytes;
      if (received >= expected) socket.end('k');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const BLOCK = Buffer.alloc(256 * 1024, 0x61);

async function send(socket: net.Socket, bytes: number): Promise<void> {
  for (let left = bytes; left > 0; left -= BLOCK.length) {
    const block = left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left);
    if (!socket.write(block)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  socket.end();
}
