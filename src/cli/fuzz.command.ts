import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { PROCESS_NODE_FLAGS, ProcessSupervisor } from '../supervisor/process-supervisor.js';
import { checkStores } from './fuzz.checks.js';
import { dropRun, prepareRun, PROCESSES, step, type FuzzRun } from './fuzz.run.js';
import { APIS, fuzzApis } from './fuzz.schemathesis.js';
import { readEnvFile } from './services.command.js';

/**
 * `scripts/fuzz/run.sh`: in databases, topics, a consumer group and ports of its own, starts the five
 * locus processes, runs schemathesis (every check, every phase, a fixed seed and budget) against the
 * catalog, reviews and query OpenAPI documents, then waits for the views and requires `locus verify`
 * at zero differences and every dead-letter store empty. Stops what it started and drops what it
 * created, also on failure; exit code 1 when anything failed.
 *
 * `st` is the schemathesis command (scripts/fuzz/install-schemathesis.sh installs it, pinned).
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      st: { type: 'string' },
      seed: { type: 'string', default: '13' },
      'max-examples': { type: 'string', default: '60' },
      'port-base': { type: 'string', default: '28080' },
      'verify-wait': { type: 'string', default: '120' },
      only: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const st = values.st;
  if (!st) throw new Error('--st <path of the schemathesis command> is required');
  Object.assign(process.env, { ...readEnvFile(), ...process.env });
  const startedAt = Date.now();
  const run = await prepareRun(Number(values['port-base']));
  const supervisor = new ProcessSupervisor(run.outDir, run.env);
  const cleanUp = () => (values.keep ? keptNotice(run) : dropRun(run));
  // On Ctrl-C or SIGTERM: schemathesis, then the locus processes, then what the run created.
  const schemathesis = new Set<ChildProcess>();
  const stopOnSignal = (signal: NodeJS.Signals) => {
    for (const child of schemathesis) child.kill('SIGTERM');
    void supervisor
      .stopAll()
      .then(cleanUp)
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const problems: string[] = [];
  try {
    for (const name of PROCESSES) {
      await supervisor.start({
        name,
        args: [name],
        healthUrl: `http://127.0.0.1:${run.ports[name]}/health`,
        nodeArgs: PROCESS_NODE_FLAGS[name],
      });
    }
    step(`started ${PROCESSES.map((name) => `${name} :${run.ports[name]}`).join(', ')}`);
    const only = values.only?.split(',');
    const apis = only ? APIS.filter((api) => only.includes(api)) : APIS;
    const settings = { st, seed: values.seed, maxExamples: values['max-examples'], running: schemathesis };
    problems.push(...(await fuzzApis(run, apis, settings)));
    problems.push(...(await checkStores(run, Number(values['verify-wait']) * 1000)));
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  } finally {
    step('stopping the locus processes');
    await supervisor.stopAll();
    await cleanUp();
  }
  console.log(`fuzz run took ${Math.round((Date.now() - startedAt) / 1000)} s`);
  if (problems.length > 0) {
    step(`fuzz: FAILED\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    process.exitCode = 1;
  } else {
    step('fuzz: passed');
  }
}

/** With --keep: says what the run left for a look afterwards. */
function keptNotice(run: FuzzRun): Promise<void> {
  const { catalogDb, readDb, mongo, topicPrefix } = run;
  console.log(`kept: databases ${catalogDb.name}, ${readDb.name}, ${mongo.database}; topics ${topicPrefix}*`);
  return Promise.resolve();
}
