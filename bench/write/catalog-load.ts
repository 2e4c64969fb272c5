import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as hdr from 'hdr-histogram-js';
import { authHeader } from '../lib/auth.js';

/** What the load process is asked to do; it arrives as JSON in BENCH_LOAD. */
export interface LoadPlan {
  mode: 'closed' | 'open';
  baseUrl: string;
  writeSeconds: number;
  writeConcurrency: number;
  openLoopRate: number;
  openLoopSeconds: number;
}

export const histogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
export const ms = (h: hdr.Histogram, percentile: number) => h.getValueAtPercentile(percentile) / 1000;

let skuCounter = 0;
// node:http with keep-alive costs the client less CPU than fetch, leaving more of the box to the service.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** POST /products with a new SKU; rejects unless the catalog answers 201. */
export function postProduct(baseUrl: string): Promise<void> {
  const body = JSON.stringify({
    sku: `BENCH-${process.pid}-${++skuCounter}`,
    name: 'Bench kettle',
    description: 'A kettle written by the write benchmark',
    price: { amount: 2999, currency: 'EUR' },
    attributes: { colour: 'red', litres: 1.7 },
  });
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}/products`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...authHeader(),
        },
      },
      (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 201
            ? resolve()
            : reject(new Error(`POST /products answered ${response.statusCode}`)),
        );
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Writes as fast as `writeConcurrency` workers get answers, for `writeSeconds`. */
export async function closedLoopWrites(plan: LoadPlan) {
  const latency = histogram();
  let writes = 0;
  const end = Date.now() + plan.writeSeconds * 1000;
  const progress = setInterval(() => process.stdout.write(`\r  closed loop: ${writes} writes`), 1000);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: plan.writeConcurrency }, async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        await postProduct(plan.baseUrl);
        latency.recordValue(Math.round((performance.now() - t0) * 1000));
        writes += 1;
      }
    }),
  );
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write('\n');
  return {
    writes,
    seconds,
    writesPerSecond: writes / seconds,
    httpP50Ms: ms(latency, 50),
    httpP99Ms: ms(latency, 99),
  };
}

/** Sends `openLoopRate` writes/s on schedule, whether or not earlier ones have answered. */
export async function openLoopHttp(plan: LoadPlan) {
  const latency = histogram();
  const total = plan.openLoopRate * plan.openLoopSeconds;
  const interval = 1000 / plan.openLoopRate;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  let failures = 0;
  let sent = 0;
  const progress = setInterval(() => process.stdout.write(`\r  open loop: ${sent}/${total} sent`), 1000);
  while (sent < total) {
    const due = start + sent * interval;
    const now = performance.now();
    if (due > now) {
      await sleep(Math.max(0, due - now - 0.5));
      continue;
    }
    // Latency from the scheduled time, so a stall counts against every request it delayed.
    inFlight.push(
      postProduct(plan.baseUrl).then(
        () => latency.recordValue(Math.max(1, Math.round((performance.now() - due) * 1000))),
        () => void (failures += 1),
      ),
    );
    sent += 1;
  }
  const sendSeconds = (performance.now() - start) / 1000;
  await Promise.all(inFlight);
  clearInterval(progress);
  process.stdout.write('\n');
  return {
    targetRate: plan.openLoopRate,
    sentRate: total / sendSeconds,
    writes: total,
    failures,
    httpP50Ms: ms(latency, 50),
    httpP99Ms: ms(latency, 99),
  };
}

export type ClosedLoopResult = Awaited<ReturnType<typeof closedLoopWrites>>;
export type OpenLoopResult = Awaited<ReturnType<typeof openLoopHttp>>;

/**
 * Runs a load phase in a child process (catalog-load.process.ts), so the load generator's CPU does not
 * delay the relay (and with it the commit -> ack measurement) in this process's event loop.
 */
export function runLoad<T>(plan: LoadPlan): Promise<T> {
  const entry = path.join(import.meta.dirname, 'catalog-load.process.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      env: { ...process.env, BENCH_LOAD: JSON.stringify(plan) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!chunk.toString().includes('RESULT ')) process.stdout.write(chunk);
    });
    child.on('exit', (code) => {
      const line = output.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as T);
      else reject(new Error(`load generator exited ${code}`));
    });
  });
}
