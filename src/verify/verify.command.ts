import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { MongoClient } from 'mongodb';
import type pg from 'pg';
import { loadConfig } from '../shared/config.js';
import { createPool } from '../shared/postgres.js';
import type { VerifyProgress } from './paged-copy.js';
import { copyReplicaViews, currentWalPosition, REPLICA_TABLES, waitForReplay } from './replica-views.js';
import { loadSources, type SourceCounts } from './source-snapshot.js';
import {
  buildExpectedViews,
  compareViews,
  LIVE_TABLES,
  type Server,
  type ViewComparison,
  type ViewDifference,
} from './view-reconciler.js';

export type { VerifyProgress, ViewDifference };

export interface VerifyUrls {
  catalog: string;
  mongo: string;
  readPrimary: string;
  /** The read replica the query service reads; its views are checked too when given. */
  readReplica?: string;
}

export interface VerifyOptions {
  /** Rows per round trip while reading the sources and the replica's views (default 5,000). */
  chunkSize?: number;
  /** How long to wait for the replica to replay what the primary held (default 30 s). */
  replicaWaitMs?: number;
  /** Differing rows listed per view and server (all are counted; default 100). */
  maxListed?: number;
  onProgress?: (progress: VerifyProgress) => void;
}

export interface VerifyReport {
  /** The differing columns of the first `maxListed` differing rows of each view on each server. */
  differences: ViewDifference[];
  /** Differing rows in all, listed or not. */
  differingRows: number;
  servers: Server[];
  counts: SourceCounts;
}

/**
 * Reads the sources (catalog store, reviews store) and compares every column of every view with them,
 * on the read primary and, when given, on the replica once it has replayed what the primary held.
 * An operator tool: it reads the stores directly, read-only, so it also works while the services are
 * down (after a crash, which is when it is needed). Memory holds one chunk of rows at a time: the
 * sources stream into temporary tables of one read-primary session, where the comparison runs.
 * @throws LocusError LOCUS_REPLICA_LAGGING when the replica does not catch up within `replicaWaitMs`.
 */
export async function verifyViews(urls: VerifyUrls, options: VerifyOptions = {}): Promise<VerifyReport> {
  const chunks = { chunkSize: options.chunkSize ?? 5_000, onProgress: options.onProgress };
  const maxListed = options.maxListed ?? 100;
  const pool = (url: string) => createPool(url, { applicationName: 'locus-verify', max: 1 });
  const catalogPool = pool(urls.catalog);
  const readPool = pool(urls.readPrimary);
  const replicaPool = urls.readReplica === undefined ? undefined : pool(urls.readReplica);
  const mongo = new MongoClient(urls.mongo);
  let session: pg.PoolClient | undefined;
  try {
    session = await readPool.connect();
    const counts = await loadSources(session, catalogPool, mongo.db(), chunks);
    // Two steps without chunks of their own: long on large data, so the progress bar names them.
    options.onProgress?.({ step: 'expected views', done: 0, total: 1 });
    await buildExpectedViews(session, chunks.chunkSize);
    options.onProgress?.({ step: 'primary views', done: 0, total: 1 });
    const { position, comparison: primary } = await inSnapshot(session, async (s) => ({
      position: await currentWalPosition(s),
      comparison: await compareViews(s, LIVE_TABLES, 'primary', maxListed),
    }));
    const comparisons: ViewComparison[] = [primary];
    const servers: Server[] = ['primary'];
    if (replicaPool) {
      const replica = await replicaPool.connect();
      try {
        await waitForReplay(replica, position, options.replicaWaitMs ?? 30_000);
        await copyReplicaViews(replica, session, chunks);
      } finally {
        replica.release();
      }
      comparisons.push(
        await inSnapshot(session, (s) => compareViews(s, REPLICA_TABLES, 'replica', maxListed)),
      );
      servers.push('replica');
    }
    return {
      differences: comparisons.flatMap((c) => c.differences),
      differingRows: comparisons.reduce((sum, c) => sum + c.differingRows, 0),
      servers,
      counts,
    };
  } finally {
    // Destroyed, not returned: its temporary tables go with the session.
    session?.release(true);
    await Promise.allSettled([catalogPool.end(), readPool.end(), replicaPool?.end(), mongo.close()]);
  }
}

async function inSnapshot<T>(session: pg.ClientBase, fn: (s: pg.ClientBase) => Promise<T>): Promise<T> {
  await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    return await fn(session);
  } finally {
    await session.query('COMMIT');
  }
}

/** Above this many rows in one step, the progress bar shows even when stderr is not a terminal. */
const LARGE_STEP_ROWS = 100_000;

/** A progress bar on stderr: on a terminal, or on large data (then a line every 10 s, for logs). */
function progressBar(stream: NodeJS.WriteStream = process.stderr) {
  let bar: SingleBar | undefined;
  let step = '';
  return {
    onProgress: (progress: VerifyProgress) => {
      if (!bar) {
        if (!stream.isTTY && progress.total < LARGE_STEP_ROWS) return;
        bar = new SingleBar(
          {
            format: 'verify [{bar}] {value}/{total} rows | {step}',
            stream,
            noTTYOutput: !stream.isTTY,
            notTTYSchedule: 10_000,
          },
          Presets.shades_classic,
        );
        bar.start(progress.total, 0, { step: progress.step });
      }
      if (progress.step !== step) {
        step = progress.step;
        bar.setTotal(progress.total);
      }
      bar.update(progress.done, { step: progress.step });
    },
    stop: () => bar?.stop(),
  };
}

/** A value of a difference, short enough for one line. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function printReport({ counts, differences, differingRows, servers }: VerifyReport): void {
  console.log(
    `sources: ${counts.categories} categories, ${counts.products} products, ${counts.reviews} live reviews; ` +
      `views checked on: ${servers.join(', ')}`,
  );
  if (differingRows === 0) {
    console.log('verify: 0 differences — every view matches its sources');
    return;
  }
  const byView = new Map<string, ViewDifference[]>();
  for (const d of differences) {
    const where = `${d.server} ${d.view}`;
    byView.set(where, [...(byView.get(where) ?? []), d]);
  }
  for (const [where, list] of byView) {
    console.log(`${where}:`);
    for (const d of list.slice(0, 40)) {
      const what =
        d.column === null
          ? d.kind === 'missing'
            ? shown(d.expected)
            : shown(d.found)
          : `${d.column}: ` + `expected ${shown(d.expected)}, found ${shown(d.found)}`;
      console.log(`  ${d.kind.padEnd(10)} ${d.id}  ${what}`);
    }
    if (list.length > 40) console.log(`  … ${list.length - 40} more listed differences`);
  }
  console.log(`verify: ${differingRows} differing rows (${differences.length} listed column differences)`);
}

/**
 * `locus verify [--wait SECONDS]`: zero differences exits 0; otherwise lists them (server, view, id,
 * column, expected, found) and exits 1. With `--wait`, checks again until the views have caught up or
 * the time is up (the pipeline is async). Checks the replica too when LOCUS_VERIFY_REPLICA_URL is set.
 * Reads every store as the read-only locus_verify role (LOCUS_VERIFY_*_URL); the reviews store through
 * LOCUS_VERIFY_MONGO_URL when set (a read-only user, in docker compose), else LOCUS_MONGO_URL.
 */
export async function main(args: string[] = []): Promise<void> {
  const { values } = parseArgs({ args, options: { wait: { type: 'string', default: '0' } } });
  const waitMs = Number(values.wait) * 1000;
  const config = loadConfig(['LOCUS_VERIFY_CATALOG_DB_URL', 'LOCUS_MONGO_URL', 'LOCUS_VERIFY_READ_DB_URL']);
  const replica = process.env.LOCUS_VERIFY_REPLICA_URL;
  const urls: VerifyUrls = {
    catalog: config.LOCUS_VERIFY_CATALOG_DB_URL,
    // FerretDB v1 has no read-only user: the native stack gives only LOCUS_MONGO_URL.
    mongo: process.env.LOCUS_VERIFY_MONGO_URL || config.LOCUS_MONGO_URL,
    readPrimary: config.LOCUS_VERIFY_READ_DB_URL,
    ...(replica ? { readReplica: replica } : {}),
  };
  if (!replica) console.log('verify: LOCUS_VERIFY_REPLICA_URL is not set: checking the primary only');
  const deadline = Date.now() + waitMs;
  const verify = async () => {
    const bar = progressBar();
    try {
      return await verifyViews(urls, { onProgress: bar.onProgress, replicaWaitMs: Math.max(30_000, waitMs) });
    } finally {
      bar.stop();
    }
  };
  let report = await verify();
  while (report.differingRows > 0 && Date.now() < deadline) {
    await sleep(1_000);
    report = await verify();
  }
  printReport(report);
  if (report.differingRows > 0) process.exitCode = 1;
}
