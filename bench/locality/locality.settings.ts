import { SIZES } from '../../examples/product-catalog/dataset.js';
import { parseBenchArgs } from '../lib/args.js';
import { parseNetworkProfiles, type NetworkProfile } from '../lib/network/profiles.js';

export const SIZE_NAMES = { '10k': 10_000, '100k': 100_000, '1m': 1_000_000 } as const;
export type SizeName = keyof typeof SIZE_NAMES;
/** Reviews seeded through the reviews API (the full write path); beyond them, the bulk path. */
export const API_REVIEWS = 10_000;
export const CATALOG = { categories: SIZES.medium.categories, products: SIZES.medium.products };
export const SEED = 42;
export const SWEEP_GROUPS = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
export const DEADLINE_MS = 600_000;
/**
 * Composition pages every review out of the reviews store (FerretDB: seconds per 500-review page on
 * this machine), so one composition request over 10k reviews takes minutes: by default it is measured
 * once, on top-rated (`--composition all` for every query). Every composition request reads the same
 * rows (all products, all reviews), whatever it computes from them.
 */
export const COMPOSITION_RUNS = 1;
/**
 * Reviews the reviews store holds, and so the largest size composition is measured at: up to it the
 * reviews go through the store's batched write path, past it straight to Kafka. The reviews relay
 * drains FerretDB's outbox at a few hundred reviews/s, so 1M through the store is over an hour; one
 * composition request at 1M would also page 1M reviews out of FerretDB, past DEADLINE_MS.
 * `--store-reviews` raises it on a faster store.
 */
export const STORE_MAX_REVIEWS = 100_000;

/**
 * The largest size composition is measured at. One composition request pages every review out of the
 * reviews API, which on FerretDB grows faster than the reviews do: 12.5 s at 10k, past the HTTP
 * client's 300 s wait for headers at 100k (bench/README.md).
 */
export const COMPOSITION_MAX_REVIEWS = 10_000;

export interface LocalitySettings {
  /** The sizes to measure, smallest first. */
  sizes: SizeName[];
  /** The queries measured under composition too (at 10k). */
  compositionQueries: string[];
  /** First of the five process ports. */
  portBase: number;
  /** Reviews written through the reviews store (the rest go to Kafka). */
  storeReviews: number;
  /** The links between the query service and its backends, each measured in turn (issue 17). */
  profiles: NetworkProfile[];
}

/** The benchmark's options; `--help` lists them. @throws Error naming a size that is not known. */
export function localitySettings(argv?: string[]): LocalitySettings {
  const flags = parseBenchArgs(
    {
      run: 'locus bench locality -- [options]  (or npm run bench:locality -- [options])',
      summary:
        'Procedure on the replica (locality) vs service-join vs composition for the analytics queries, at growing review counts, and whether strategy=auto picks the faster.',
    },
    {
      sizes: { type: 'string', default: '10k,100k,1m', help: 'review counts to measure at (10k, 100k, 1m)' },
      quick: { type: 'boolean', help: 'a smoke run: 10k only' },
      composition: {
        type: 'string',
        default: 'top-rated',
        help: 'queries measured under composition too, comma-separated, or all',
      },
      network: {
        type: 'string',
        default: 'all',
        help: 'links between the query service and its backends: loopback, rack, datacenter, region, comma-separated, or all',
      },
      'store-reviews': {
        type: 'number',
        default: STORE_MAX_REVIEWS,
        help: 'reviews written through the reviews store (the rest straight to Kafka)',
      },
      'port-base': { type: 'number', default: 28080, help: 'first of the five process ports' },
    },
    argv,
  );
  const sizes = (flags.quick ? '10k' : flags.sizes)
    .split(',')
    .map((name) => name.trim().toLowerCase() as SizeName)
    .sort((a, b) => SIZE_NAMES[a] - SIZE_NAMES[b]);
  for (const name of sizes) {
    if (!(name in SIZE_NAMES))
      throw new Error(`--sizes: ${name} is not one of ${Object.keys(SIZE_NAMES).join(', ')}`);
  }
  const compositionQueries =
    flags.composition === 'all'
      ? ['top-rated', 'rating-trend', 'category-report', 'rollup G=100', 'export']
      : flags.composition.split(',');
  return {
    sizes,
    compositionQueries,
    profiles: parseNetworkProfiles(flags.network),
    portBase: flags['port-base'],
    storeReviews: flags['store-reviews'],
  };
}
