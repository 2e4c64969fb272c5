import type { TestProject } from 'vitest/node';
import { dockerAnswers } from '../../src/cli/test.command.js';
import { readEnvFile, ENV_FILE } from '../../src/cli/services.command.js';
import { ADDRESS_VARIABLES, tcpAnswers, type ServiceAddresses } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceAddresses;
  }
}

const HOW_TO_START =
  'no services for the integration tests: run `npm run services:up` (or `npm test`, which starts them), ' +
  'set the LOCUS_* addresses, or start a Docker engine for testcontainers';

/**
 * Finds the services once per run: LOCUS_* from the environment, else the file `services up` wrote,
 * else containers when Docker answers. Fails at once, naming the command, when there are none.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let teardown = async () => {};
  let addresses: Partial<ServiceAddresses> = pick(process.env);
  if (!complete(addresses)) {
    const fromFile = pick(readEnvFile());
    if (complete(fromFile)) addresses = fromFile;
  }
  if (!complete(addresses) && dockerAnswers()) {
    const { startContainers } = await import('./containers.js');
    const started = await startContainers();
    addresses = started.addresses;
    teardown = started.stop;
  }
  if (!complete(addresses)) throw new Error(HOW_TO_START);
  const down = [];
  for (const name of ADDRESS_VARIABLES) {
    if (!(await tcpAnswers(addresses[name]))) down.push(`${name}=${addresses[name]}`);
  }
  if (down.length > 0) {
    throw new Error(`${HOW_TO_START}. Not answering: ${down.join(', ')} (addresses from env or ${ENV_FILE})`);
  }
  project.provide('services', addresses);
  return teardown;
}

function pick(source: Record<string, string | undefined>): Partial<ServiceAddresses> {
  return Object.fromEntries(ADDRESS_VARIABLES.filter((n) => source[n]).map((n) => [n, source[n]]));
}

function complete(addresses: Partial<ServiceAddresses>): addresses is ServiceAddresses {
  return ADDRESS_VARIABLES.every((name) => Boolean(addresses[name]));
}
