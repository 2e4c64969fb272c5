import { Command } from 'commander';
import { isLocusError } from '../shared/errors.js';
import { loadEnvFileWhenUnset } from './services.command.js';

/**
 * `locus`: the one command that starts every process and tool. Each subcommand loads its module only
 * when it runs, so `locus --help` and `locus services up` stay fast.
 */
const program = new Command('locus')
  .description('CQRS materialized views kept fresh from change events, and data locality for heavy queries')
  .showHelpAfterError()
  // Options after a subcommand's first argument belong to it (`locus bench projector --help`).
  .enablePositionalOptions()
  // Commands that reach the stores find them in ~/.locus/env when no LOCUS_* address is set; `services`
  // writes that file and `test` and `example` start the services first, so they decide for themselves.
  .hook('preAction', (_program, command) => {
    const root = command.parent?.parent ? command.parent.name() : command.name();
    if (!['services', 'build', 'test', 'example'].includes(root)) loadEnvFileWhenUnset();
  });

const services = program.command('services').description('install, start and stop the native services');
services
  .command('up')
  .description(
    'install what is missing and start PostgreSQL x3, FerretDB and Kafka on 127.0.0.1 (idempotent)',
  )
  .action(async () => (await import('./services.command.js')).services('up'));
services
  .command('down')
  .description('stop every service process that `services up` started')
  .action(async () => (await import('./services.command.js')).services('down'));
services
  .command('status')
  .description('list each service with its address and health')
  .action(async () => (await import('./services.command.js')).services('status'));
services
  .command('reset')
  .description('stop the services and delete their data (caches are kept)')
  .action(async () => (await import('./services.command.js')).services('reset'));
services
  .command('env')
  .description('print the LOCUS_* addresses as shell exports (eval "$(npx locus services env)")')
  .action(async () => (await import('./services.command.js')).printEnv());

program
  .command('build')
  .description(
    'compile the TypeScript to dist/ (bin/locus.js does it; `test`, `example`, `bench` do it first)',
  )
  // Listed for --help only: bin/locus.js compiles and exits before this module loads.
  .action(() => undefined);

program
  .command('migrate')
  .description('apply SQL migrations to the catalog and read stores, then (re)install procedures/*.sql')
  .action(async () => (await import('./migrate.command.js')).migrateAll());

program
  .command('test')
  .description('run the test suite, starting the native services first unless LOCUS_* or Docker provide them')
  .argument('[vitest...]', 'arguments passed to vitest')
  .allowUnknownOption()
  .action(async (args: string[]) => (await import('./test.command.js')).runTests(args));

const processes: [string, string, () => Promise<{ main: () => Promise<void> }>][] = [
  [
    'catalog',
    'run the catalog service (products and categories in PostgreSQL), port 8081',
    () => import('../apps/catalog.js'),
  ],
  ['reviews', 'run the reviews service (reviews in MongoDB), port 8082', () => import('../apps/reviews.js')],
  [
    'query',
    'run the query service (REST over the views; analytics on the replica), port 8080',
    () => import('../apps/query.js'),
  ],
];
for (const [name, description, load] of processes) {
  program
    .command(name)
    .description(description)
    .action(async () => (await load()).main());
}

program
  .command('relay')
  .description('run the outbox relays that publish change events to Kafka, port 8084')
  .argument('[action]', 'run (default), dlq (list | retry <source> <id> | skip <source> <id>)', 'run')
  .argument('[args...]')
  .allowUnknownOption()
  .action(async (action: string, args: string[]) => (await import('../apps/relay.js')).main(action, args));

program
  .command('projector')
  .description('run the projector that keeps the materialized views from Kafka, port 8083')
  .argument('[action]', 'run (default), rebuild, dlq', 'run')
  .argument('[args...]')
  .allowUnknownOption()
  .action(async (action: string, args: string[]) =>
    (await import('../apps/projector.js')).main(action, args),
  );

program
  .command('example')
  .description('run the product-catalog example end to end: services, processes, seed, tour')
  // Parsed by examples/product-catalog/run.ts; listed here so `locus example --help` shows them.
  .addHelpText(
    'after',
    `
Options of the example:
  --size <small|medium|large>  dataset: small 200 products / 2,000 reviews (default),
                               medium 2,000 / 100,000, large 20,000 / 1,000,000
  --seed <n>                   seed of the generated dataset (default 42)
  --exit                       stop the processes after the tour instead of serving until Ctrl-C
  --attach                     seed and tour processes already running (docker compose) at
                               LOCUS_{CATALOG,REVIEWS,QUERY}_URL, starting nothing`,
  )
  .allowUnknownOption()
  .argument('[args...]')
  .action(async (args: string[]) => (await import('../../examples/product-catalog/run.js')).main(args));

program
  .command('bench')
  .description('run a benchmark: locality | pipeline | write | projector | query')
  .argument('<name>')
  .argument('[args...]')
  .allowUnknownOption()
  .passThroughOptions()
  // `npm run bench:x -- --flag` and `locus bench x -- --flag` hand the benchmark a leading `--`.
  .action(async (name: string, args: string[]) =>
    (await import('../../bench/index.js')).main(name, args[0] === '--' ? args.slice(1) : args),
  );

program
  .command('verify')
  .description('reconcile every view against its source stores; exit 1 listing the differences')
  .option('--wait <seconds>', 'check again until the views have caught up, at most this long', '0')
  .action(async (options: { wait: string }) =>
    (await import('../verify/verify.command.js')).main(['--wait', options.wait]),
  );

try {
  await program.parseAsync();
} catch (error) {
  if (isLocusError(error)) {
    console.error(`locus: ${error.code}: ${error.message}`);
  } else {
    console.error(error);
  }
  process.exitCode = 1;
}
