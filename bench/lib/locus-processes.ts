import type { Topics } from '../../src/contracts/topics.js';
import type { ProcessSupervisor } from '../../src/supervisor/process-supervisor.js';
import { uniqueName, type TestDatabase } from '../../testkit/isolation.js';
import { LOCUS_PROCESSES, portsFrom, type BenchEnvironment, type LocusProcess } from './environment.js';

/** The five locus processes of one run, over stores of their own. */
export interface RunningLocus {
  supervisor: ProcessSupervisor;
  ports: Record<LocusProcess, number>;
  url(name: LocusProcess): string;
  pid(name: LocusProcess): number;
  catalogDb: TestDatabase;
  readDb: TestDatabase;
  mongo: { url: string; database: string };
  topics: Topics;
}

/**
 * Creates fresh catalog and read-store databases, a reviews database, a topic prefix and a projector
 * group, then starts catalog, reviews, relay, projector and query (in that order, each healthy before
 * the next) on ports counted from `portBase`. Everything is undone when the environment closes.
 * @throws Error when a port is already answering: a stale process would be measured instead of ours.
 */
export async function startLocus(
  environment: BenchEnvironment,
  portBase: number,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<RunningLocus> {
  const ports = portsFrom(portBase);
  const url = (name: LocusProcess) => `http://127.0.0.1:${ports[name]}`;
  console.log('▸ creating fresh catalog and read-store databases');
  const [catalogDb, readDb] = await Promise.all([
    environment.database('catalog'),
    environment.database('readmodel'),
  ]);
  const mongo = environment.mongoDatabase();
  const projectorGroup = uniqueName(`bench_${environment.name}`);
  const { prefix, topics } = await environment.topics({ projectorGroup });
  const supervisor = environment.processes({
    ...catalogDb.env,
    ...readDb.env,
    LOCUS_MONGO_URL: mongo.url,
    LOCUS_TOPIC_PREFIX: prefix,
    LOCUS_PROJECTOR_GROUP: projectorGroup,
    LOCUS_CATALOG_URL: url('catalog'),
    LOCUS_REVIEWS_URL: url('reviews'),
    LOCUS_QUERY_PORT: String(ports.query),
    LOCUS_CATALOG_PORT: String(ports.catalog),
    LOCUS_REVIEWS_PORT: String(ports.reviews),
    LOCUS_PROJECTOR_PORT: String(ports.projector),
    LOCUS_RELAY_PORT: String(ports.relay),
    ...extraEnv,
  });
  for (const name of LOCUS_PROCESSES) {
    const stale = await fetch(`${url(name)}/health`).then(
      () => true,
      () => false,
    );
    if (stale)
      throw new Error(`port ${ports[name]} (${name}) is already in use; stop whatever listens there`);
    console.log(`▸ starting ${name} on port ${ports[name]} (log ${supervisor.logFile(name)})`);
    await supervisor.start({ name, args: [name], healthUrl: `${url(name)}/health` });
  }
  const pid = (name: LocusProcess) => supervisor.pid(name)!;
  return { supervisor, ports, url, pid, catalogDb, readDb, mongo, topics };
}
