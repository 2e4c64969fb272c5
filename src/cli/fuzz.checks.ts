import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { bearerHeader } from '../shared/auth.tokens.js';
import { verifyViews, type VerifyReport } from '../verify/verify.command.js';
import { step, type FuzzRun } from './fuzz.run.js';

/**
 * What must hold after the APIs were fuzzed: the views equal the sources (`locus verify`, waited for)
 * and no dead-letter store holds anything. Prints what it finds.
 * @returns the problems found, empty when all holds.
 */
export async function checkStores(run: FuzzRun, verifyWaitMs: number): Promise<string[]> {
  const problems: string[] = [];
  step('waiting for the views to catch up, then verifying them against the sources');
  const report = await verifyUntilEqual(
    { catalog: run.catalogDb.url, mongo: run.mongo.url, readPrimary: run.readDb.url },
    verifyWaitMs,
  );
  const { counts, differences } = report;
  console.log(
    `verify: ${differences.length} differences (${counts.categories} categories, ${counts.products} products, ${counts.reviews} reviews)`,
  );
  for (const { view, id, kind } of differences.slice(0, 30)) console.log(`  ${view} ${kind} ${id}`);
  if (differences.length > 0) problems.push(`locus verify reports ${differences.length} differences`);

  const letters = await deadLetterCounts(run.readDb.url, `http://127.0.0.1:${run.ports.relay}`, run.token);
  for (const [store, count] of letters) {
    console.log(`dead letters in ${store}: ${count}`);
    if (count > 0) problems.push(`${count} dead letters in ${store}`);
  }
  return problems;
}

/** `locus verify --wait`: the pipeline is asynchronous, so differences are final only once they stay. */
async function verifyUntilEqual(
  urls: Parameters<typeof verifyViews>[0],
  waitMs: number,
): Promise<VerifyReport> {
  const deadline = Date.now() + waitMs;
  let report = await verifyViews(urls);
  while (report.differences.length > 0 && Date.now() < deadline) {
    await sleep(2_000);
    report = await verifyViews(urls);
  }
  return report;
}

/**
 * The dead letters of this run: rows of the projector's `dead_letters` table in the read store, and
 * the events the relay parked (its `/admin/dead-letters`, which lists both outboxes; a relay without
 * that route has none).
 */
async function deadLetterCounts(
  readDbUrl: string,
  relay: string,
  token: string,
): Promise<[string, number][]> {
  const client = new pg.Client({ connectionString: readDbUrl });
  await client.connect();
  let projector: number;
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
    projector = rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
  const counts: [string, number][] = [['projector (read store dead_letters)', projector]];
  const response = await fetch(`${relay}/admin/dead-letters?limit=1000`, {
    headers: bearerHeader(token),
  });
  if (response.status === 200) {
    const { items } = (await response.json()) as { items: unknown[] };
    counts.push(['relay (GET /admin/dead-letters)', items.length]);
  } else {
    await response.body?.cancel();
    if (response.status !== 404) throw new Error(`relay /admin/dead-letters answered ${response.status}`);
  }
  return counts;
}
