import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../migrate/migrator.js';
import { createProduct, step, type FuzzRun } from './fuzz.run.js';

/**
 * The REST APIs in the order they are fuzzed: the catalog first, so the reviews and query runs meet
 * products that exist.
 */
export const APIS = ['catalog', 'reviews', 'query'] as const;
type ApiName = (typeof APIS)[number];

/** schemathesis's settings (scripts/fuzz/schemathesis.toml) and its hooks, each change with why. */
const FUZZ_DIR = path.join(REPO_ROOT, 'scripts', 'fuzz');

/**
 * Checks left out of `--checks all`, each with why: each is replaced by a check of the same name with
 * a suffix (scripts/fuzz/hooks.py) that is the same check except for answers named by their LOCUS_ code.
 */
const EXCLUDED_CHECKS: { check: string; why: string }[] = [
  {
    check: 'positive_data_acceptance',
    why:
      'replaced by positive_data_acceptance_beyond_schema: it lets through refusals for rules no ' +
      'schema can state (a reused Idempotency-Key, a cursor the service did not issue, the query ' +
      "API's cross-field rules), each recognised by its code, field and detail",
  },
  {
    check: 'not_a_server_error',
    why:
      'replaced by not_a_server_error_but_not_yet_consistent: it lets through 503 ' +
      'LOCUS_NOT_YET_CONSISTENT, the documented retry-later answer to a consistency token of a ' +
      'write the views do not show (schemathesis invents such tokens)',
  },
];

interface FuzzOutcome {
  api: ApiName;
  exitCode: number | null;
  /** Test cases schemathesis generated and sent, from its summary. */
  testCases: number | undefined;
  failures: string[];
  logFile: string;
}

/** What every API's schemathesis run shares. */
interface FuzzSettings {
  /** The schemathesis command (scripts/fuzz/install-schemathesis.sh installs it, pinned). */
  st: string;
  seed: string;
  maxExamples: string;
  /** Holds the schemathesis process while it runs, so a signal can stop it. */
  running: Set<ChildProcess>;
}

/**
 * Runs schemathesis against each of `apis` in turn and prints each outcome.
 * @returns the problems found: one per API whose run failed.
 */
export async function fuzzApis(
  run: FuzzRun,
  apis: readonly ApiName[],
  settings: FuzzSettings,
): Promise<string[]> {
  for (const { check, why } of EXCLUDED_CHECKS) console.log(`check ${check} left out: ${why}`);
  const problems: string[] = [];
  for (const api of apis) {
    // A review needs a product that exists: without one every review write would answer 404.
    const parameters: Record<string, string> =
      api === 'reviews' ? { 'path.productId': await createProduct(run) } : {};
    const outcome = await runSchemathesis(settings.st, api, run.ports[api], run.outDir, {
      seed: settings.seed,
      maxExamples: settings.maxExamples,
      parameters,
      running: settings.running,
      token: run.token,
    });
    console.log(
      `${api}: ${outcome.testCases ?? '?'} test cases, ${outcome.failures.length} failures` +
        ` (st exit ${outcome.exitCode}, log ${outcome.logFile})`,
    );
    for (const failure of outcome.failures) console.log(`  ${failure}`);
    if (outcome.exitCode !== 0) problems.push(`schemathesis found failures in the ${api} API`);
  }
  return problems;
}

/**
 * One schemathesis run against one API: every check, every phase (the stateful one included), one
 * worker, a fixed seed and a fixed number of examples per operation, so CI runs the same requests
 * each time. Its output goes to a log file; the summary is read from its NDJSON report.
 */
async function runSchemathesis(
  st: string,
  api: ApiName,
  port: number,
  outDir: string,
  budget: {
    seed: string;
    maxExamples: string;
    parameters: Record<string, string>;
    /** Holds the schemathesis process while it runs, so a signal can stop it. */
    running: Set<ChildProcess>;
    /** The run's bearer token ([auth.openapi.bearer] in schemathesis.toml reads it from the env). */
    token: string;
  },
): Promise<FuzzOutcome> {
  const base = `http://127.0.0.1:${port}`;
  const reportDir = path.join(outDir, `schemathesis-${api}`);
  const logFile = path.join(outDir, `schemathesis-${api}.log`);
  // The shared settings, plus the values this API's run holds fixed ([parameters]).
  const configFile = path.join(outDir, `schemathesis-${api}.toml`);
  const fixed = Object.entries(budget.parameters).map(([name, value]) => `"${name}" = "${value}"`);
  writeFileSync(
    configFile,
    readFileSync(path.join(FUZZ_DIR, 'schemathesis.toml'), 'utf8') +
      (fixed.length > 0 ? `\n[parameters]\n${fixed.join('\n')}\n` : ''),
  );
  const args = schemathesisArgs(configFile, base, reportDir, budget);
  step(`schemathesis against the ${api} API (${base}): st ${args.join(' ')}`);
  const started = Date.now();
  const log = createWriteStream(logFile);
  mkdirSync(reportDir, { recursive: true });
  // Its working directory gets schemathesis's own cache (.schemathesis/), kept out of the repository.
  const child = spawn(st, args, {
    cwd: reportDir,
    env: {
      ...process.env,
      SCHEMATHESIS_HOOKS: path.join(FUZZ_DIR, 'hooks.py'),
      LOCUS_FUZZ_TOKEN: budget.token,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  budget.running.add(child);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  budget.running.delete(child);
  await new Promise((resolve) => log.end(resolve));
  console.log(`${api}: schemathesis took ${Math.round((Date.now() - started) / 1000)} s`);
  const output = readFileSync(logFile, 'utf8');
  return { api, exitCode, logFile, ...summaryOf(output) };
}

/**
 * Reads schemathesis's plain output: the number of test cases it generated, and for each operation
 * in its FAILURES section (a `____ GET /path ____` headline) the failure kinds found there.
 */
export function summaryOf(output: string): { testCases: number | undefined; failures: string[] } {
  const generated = /Test cases:\s+(\d+) generated/.exec(output);
  const failuresAt = output.indexOf('= FAILURES =');
  const summaryAt = output.indexOf('= SUMMARY =');
  const section = failuresAt < 0 ? '' : output.slice(failuresAt, summaryAt < 0 ? undefined : summaryAt);
  const failures: string[] = [];
  const blocks = section.split(/^_{3,} (.+?) _{3,}$/m);
  for (let i = 1; i + 1 < blocks.length; i += 2) {
    const kinds = new Set([...blocks[i + 1]!.matchAll(/^- (ST\d+ .+)$/gm)].map((match) => match[1]!));
    failures.push(`${blocks[i]!}: ${[...kinds].join('; ')}`);
  }
  return { testCases: generated ? Number(generated[1]) : undefined, failures };
}

/** schemathesis's command line: every check but the excluded ones, every phase, one worker. */
function schemathesisArgs(
  configFile: string,
  base: string,
  reportDir: string,
  budget: { seed: string; maxExamples: string },
): string[] {
  const excluded = EXCLUDED_CHECKS.map(({ check }) => check);
  return [
    '--config-file',
    configFile,
    'run',
    `${base}/documentation/json`,
    '--url',
    base,
    '--checks',
    'all',
    ...(excluded.length > 0 ? ['--exclude-checks', excluded.join(',')] : []),
    '--phases',
    'examples,coverage,fuzzing,stateful',
    '--max-examples',
    budget.maxExamples,
    '--seed',
    budget.seed,
    '--workers',
    '1',
    '--request-timeout',
    '15',
    '--generation-database',
    'none',
    '--no-color',
    // The reproducing curl commands in the log must carry the real values, tokens and keys included.
    '--output-sanitize',
    'false',
    '--report',
    'ndjson,junit',
    '--report-dir',
    reportDir,
  ];
}
