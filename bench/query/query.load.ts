import http from 'node:http';
import { LatencyRecorder } from '../lib/stats.js';

/** GET over a keep-alive agent; resolves after the whole body arrived, rejects on non-200. */
export function getter(port: number, sockets: number): (pathname: string) => Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  return (pathname: string) =>
    new Promise<void>((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port, path: pathname, agent }, (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`status ${response.statusCode}`)),
        );
      });
      request.on('error', reject);
    });
}

export interface ClosedLoopResult {
  requests: number;
  errors: number;
  perSecond: number;
  latency: ReturnType<LatencyRecorder['summary']>;
}

/** `concurrency` workers, each sending its next lookup as soon as the last answered, for `seconds`. */
export async function closedLoop(
  get: (path: string) => Promise<void>,
  ids: string[],
  seconds: number,
  concurrency: number,
  log: (message: string) => void,
): Promise<ClosedLoopResult> {
  const recorder = new LatencyRecorder();
  const ends = performance.now() + seconds * 1000;
  let requests = 0;
  let errors = 0;
  const worker = async (offset: number) => {
    let i = offset;
    while (performance.now() < ends) {
      const started = performance.now();
      try {
        await get(`/products/${ids[i % ids.length]}`);
        recorder.record(performance.now() - started);
        requests += 1;
      } catch {
        errors += 1;
      }
      i += concurrency;
    }
  };
  const started = performance.now();
  const progress = setInterval(() => log(`  saturation: ${requests} requests so far`), 2_000);
  await Promise.all(Array.from({ length: concurrency }, (_, offset) => worker(offset)));
  clearInterval(progress);
  return {
    requests,
    errors,
    perSecond: requests / ((performance.now() - started) / 1000),
    latency: recorder.summary(),
  };
}
