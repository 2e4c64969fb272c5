/**
 * The near end of the link's self-check, run behind the link (`ip netns exec …`). Arguments:
 * `<host> <port> <bytes> <roundTrips>`; prints one JSON line: the median round trip in ms and the
 * seconds `bytes` took each way.
 */
import net from 'node:net';

const [host, portText, bytesText, tripsText] = process.argv.slice(2);
const target = { host: host!, port: Number(portText), noDelay: true };
const bytes = Number(bytesText);
const trips = Number(tripsText);

function connected(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function roundTripMs(): Promise<number> {
  const socket = await connected();
  socket.write('echo\n');
  const times: number[] = [];
  for (let trip = 0; trip < trips + 5; trip++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write('x');
    });
    // The first few open the path (connection to the target, JIT): not counted.
    if (trip >= 5) times.push(performance.now() - started);
  }
  socket.destroy();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function downloadSeconds(): Promise<number> {
  const socket = await connected();
  const started = performance.now();
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.write(`send ${bytes}\n`);
  await new Promise((resolve) => socket.once('end', resolve));
  if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
  return (performance.now() - started) / 1000;
}

async function uploadSeconds(): Promise<number> {
  const socket = await connected();
  const started = performance.now();
  const block = Buffer.alloc(256 * 1024, 0x62);
  socket.write(`receive ${bytes}\n`);
  const acknowledged = new Promise((resolve) => socket.once('data', resolve));
  for (let left = bytes; left > 0; left -= block.length) {
    if (!socket.write(left >= block.length ? block : block.subarray(0, left)))
      await new Promise((resolve) => socket.once('drain', resolve));
  }
  await acknowledged;
  socket.destroy();
  return (performance.now() - started) / 1000;
}

const rttMs = await roundTripMs();
const toServiceSeconds = await downloadSeconds();
const fromServiceSeconds = await uploadSeconds();
console.log(JSON.stringify({ rttMs, toServiceSeconds, fromServiceSeconds }));
