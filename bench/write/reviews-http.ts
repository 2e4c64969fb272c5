import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Fastify from 'fastify';
import { build } from 'hdr-histogram-js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';
import { progressBar } from '../lib/progress.js';
import { authHeader } from '../lib/auth.js';

/**
 * A stand-in for the catalog's `GET /products/{id}`, knowing `products` random ids; the reviews
 * service's product check goes through its real policies and cache against it.
 */
export async function stubCatalog(products: number) {
  const catalog = Fastify();
  const productIds = Array.from({ length: products }, () => randomUUID());
  const known = new Set<string>(productIds);
  catalog.get<{ Params: { id: string } }>('/products/:id', async (request, reply) =>
    known.has(request.params.id) ? { id: request.params.id } : reply.code(404).send({}),
  );
  const url = await catalog.listen({ port: 0, host: '127.0.0.1' });
  return { url, productIds, close: () => catalog.close() };
}

/**
 * Starts `locus reviews` and waits until its /health answers 200. Spawned here rather than by
 * ProcessSupervisor because the results record its exit code after SIGTERM, which the supervisor's
 * stop() does not give back.
 */
export async function startReviewsProcess(env: NodeJS.ProcessEnv, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/locus.js'), 'reviews'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`locus reviews exited with ${child.exitCode}`);
    const healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return child;
    await sleep(200);
  }
  child.kill('SIGKILL');
  throw new Error('locus reviews did not become healthy within 30 s');
}

export interface WriteLoad {
  base: string;
  productIds: string[];
  seconds: number;
  concurrency: number;
  patchShare: number;
}

/**
 * Closed loop over keep-alive HTTP: each worker creates reviews (POST with an Idempotency-Key) and
 * edits its own last one (PATCH with If-Match, so edits never conflict), `patchShare` of the time.
 */
export async function driveWrites(load: WriteLoad) {
  const latency = { create: build(), patch: build() };
  const counts = { create: 0, patch: 0, errors: 0 };
  const errorCodes: Record<string, number> = {};
  const bar = progressBar('reviews writes |{bar}| {value}/{total} s | {writes} writes, {rate}/s');
  bar.start(load.seconds, 0, { writes: 0, rate: 0 });
  const started = performance.now();
  const deadline = started + load.seconds * 1000;
  const writes = () => counts.create + counts.patch;
  const ticker = setInterval(() => {
    const elapsed = (performance.now() - started) / 1000;
    bar.update(Math.min(Math.floor(elapsed), load.seconds), {
      writes: writes(),
      rate: Math.round(writes() / elapsed),
    });
  }, 500);
  const worker = async (index: number) => {
    let mine: { id: string; version: number } | undefined;
    for (let n = 1; performance.now() < deadline; n++) {
      const kind = mine && Math.random() < load.patchShare ? 'patch' : 'create';
      const begin = performance.now();
      const response = await writeOnce(load, kind, index, n, mine);
      const body = (await response.json()) as { id?: string; version?: number; code?: string };
      const micros = Math.round((performance.now() - begin) * 1000);
      if (response.ok && body.id && body.version) {
        latency[kind].recordValue(micros);
        counts[kind] += 1;
        mine = { id: body.id, version: body.version };
      } else {
        counts.errors += 1;
        const code = body.code ?? String(response.status);
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: load.concurrency }, (_, i) => worker(i)));
  clearInterval(ticker);
  const elapsedSeconds = (performance.now() - started) / 1000;
  bar.update(load.seconds, { writes: writes(), rate: Math.round(writes() / elapsedSeconds) });
  bar.stop();
  return { latency, counts, errorCodes, elapsedSeconds };
}

function writeOnce(
  load: WriteLoad,
  kind: 'create' | 'patch',
  index: number,
  n: number,
  mine: { id: string; version: number } | undefined,
): Promise<Response> {
  if (kind === 'create')
    return fetch(
      `${load.base}/products/${load.productIds[(index * 7919 + n) % load.productIds.length]}/reviews`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...authHeader() },
        body: JSON.stringify({
          author: `w${index}`,
          rating: 1 + (n % 5),
          title: `t${n}`,
          body: 'bench '.repeat(20),
        }),
      },
    );
  return fetch(`${load.base}/reviews/${mine!.id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', 'if-match': `"${mine!.version}"`, ...authHeader() },
    body: JSON.stringify({ rating: 1 + (n % 5), title: `edit ${n}` }),
  });
}

export type HdrHistogram = ReturnType<typeof build>;
