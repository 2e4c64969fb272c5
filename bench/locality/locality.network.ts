import type { BenchEnvironment } from '../lib/environment.js';
import type { RunningLocus } from '../lib/locus-processes.js';
import { NetworkLink } from '../lib/network/network-link.js';
import { describeProfile, type NetworkProfile } from '../lib/network/profiles.js';
import { assertLinkShaped, type LinkMeasurement } from '../lib/network/self-check.js';

/** The query service of a run, started behind one profile's link. */
export interface QueryBehindLink {
  /** Where the benchmark calls the service, and its process (for CPU and RSS). */
  target: { url: string; pid: number };
  /** What the self-check measured across the link (undefined for loopback, which has none). */
  linkMeasured: LinkMeasurement | undefined;
  /** Stops the service and removes the link; the run goes on with the next profile. */
  close(): Promise<void>;
}

function hostAndPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

/**
 * Restarts the run's query service behind a link of `profile` (issue 17): every byte it reads from
 * the replica and the primary, and every composition call to the catalog and reviews services,
 * crosses the link both ways, while the benchmark calls the service over an unshaped path. The link is
 * self-checked (100 MB each way, the RTT) before the service starts, so no figure is reported for a
 * link that does not match its profile. The link is also removed when the environment closes.
 * @throws Error when the link cannot be built, misses its profile, or the service does not start.
 */
export async function startQueryBehindLink(
  environment: BenchEnvironment,
  locus: RunningLocus,
  profile: NetworkProfile,
  options: { selfCheck: boolean },
): Promise<QueryBehindLink> {
  await locus.supervisor.stop('query');
  const link = await NetworkLink.open(profile, [
    { name: 'replica', ...hostAndPort(locus.readDb.replicaUrl) },
    { name: 'primary', ...hostAndPort(locus.readDb.url) },
    { name: 'catalog', ...hostAndPort(locus.url('catalog')) },
    { name: 'reviews', ...hostAndPort(locus.url('reviews')) },
  ]);
  environment.defer(`remove the ${profile.name} link`, () => link.close());
  try {
    let linkMeasured: LinkMeasurement | undefined;
    if (link.namespace && options.selfCheck) {
      console.log(`▸ self-check of the ${profile.name} link (${describeProfile(profile)}): 100 MB each way`);
      linkMeasured = await assertLinkShaped(link);
      console.log(
        `  RTT ${linkMeasured.rttMs.toFixed(3)} ms; 100 MB in ${linkMeasured.toServiceSeconds.toFixed(3)} s ` +
          `towards the service, ${linkMeasured.fromServiceSeconds.toFixed(3)} s from it`,
      );
    }
    const catalog = link.reach('catalog');
    const reviews = link.reach('reviews');
    const url = `http://${link.serviceHost}:${locus.ports.query}`;
    console.log(
      `▸ starting query behind the ${profile.name} link${link.namespace ? ` (${link.namespace})` : ''}`,
    );
    await locus.supervisor.start({
      name: 'query',
      args: ['query'],
      launcher: link.launcher,
      healthUrl: `${url}/health`,
      env: {
        LOCUS_HOST: link.serviceHost,
        LOCUS_READ_REPLICA_URL: link.reachUrl(locus.readDb.replicaUrl, 'replica'),
        LOCUS_QUERY_DB_URL: link.reachUrl(locus.readDb.urlFor('LOCUS_QUERY_DB_URL'), 'primary'),
        LOCUS_CATALOG_URL: `http://${catalog.host}:${catalog.port}`,
        LOCUS_REVIEWS_URL: `http://${reviews.host}:${reviews.port}`,
      },
    });
    return {
      target: { url, pid: locus.pid('query') },
      linkMeasured,
      close: async () => {
        await locus.supervisor.stop('query');
        await link.close();
      },
    };
  } catch (error) {
    await link.close();
    throw error;
  }
}
