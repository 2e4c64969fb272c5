import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { dockerAnswers } from '../../src/cli/test.command.js';
import { readEnvFile, ENV_FILE } from '../../src/cli/services.command.js';
import { ADDRESS_VARIABLES, endpointOf, tcpAnswers, type ServiceAddresses } from './services.js';

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
  // Credentials travel with the addresses: every LOCUS_* setting of the source the addresses came from.
  let settings: Record<string, string> = locusSettings(process.env);
  if (!complete(addresses)) {
    const file = readEnvFile();
    const fromFile = pick(file);
    if (complete(fromFile)) {
      addresses = fromFile;
      settings = locusSettings(file);
    }
  }
  if (!complete(addresses) && dockerAnswers()) {
    const { startContainers } = await import('./containers.js');
    const started = await startContainers();
    addresses = started.addresses;
    settings = { ...started.addresses };
    teardown = started.stop;
  }
  if (!complete(addresses)) throw new Error(HOW_TO_START);
  const down = [];
  for (const name of ADDRESS_VARIABLES) {
    // Host and port only: the addresses carry the processes' passwords, which a log must not show.
    const { host, port } = endpointOf(addresses[name]);
    if (!(await tcpAnswers(addresses[name]))) down.push(`${name} at ${host}:${port}`);
  }
  if (down.length > 0) {
    throw new Error(`${HOW_TO_START}. Not answering: ${down.join(', ')} (addresses from env or ${ENV_FILE})`);
  }
  // Writes, exports and admin routes need a bearer token: the stack's dev token, else one for this run
  // (test servers and the processes tests start accept LOCUS_DEV_TOKEN with every scope).
  settings.LOCUS_DEV_TOKEN ||= randomBytes(32).toString('base64url');
  project.provide('services', { ...settings, ...addresses });
  return teardown;
}

function pick(source: Record<string, string | undefined>): Partial<ServiceAddresses> {
  return Object.fromEntries(ADDRESS_VARIABLES.filter((n) => source[n]).map((n) => [n, source[n]]));
}

function locusSettings(source: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(source).filter(
      (entry): entry is [string, string] => entry[0].startsWith('LOCUS_') && !!entry[1],
    ),
  );
}

function complete(addresses: Partial<ServiceAddresses>): addresses is ServiceAddresses {
  return ADDRESS_VARIABLES.every((name) => Boolean(addresses[name]));
}
