import { parseBenchArgs } from '../lib/args.js';

/** The two kinds of write the pipeline benchmark sends and follows. */
export type Kind = 'catalog' | 'reviews';

/** Goal of the projector issue: at 1,000 events/s, freshness p50 ≤ 30 ms and p99 ≤ 150 ms. */
export const GOAL = { rate: 1_000, p50Ms: 30, p99Ms: 150 };

export interface PipelineSettings {
  quick: boolean;
  rates: number[];
  stepSeconds: number;
  reviewRate: number;
  products: number;
  categories: number;
  pollMs: number;
  drainSeconds: number;
  portBase: number;
  lateSeconds: number;
  /** Unanswered writes of a kind beyond which the next due write is shed (see the step). */
  maxInFlight: Record<Kind, number>;
}

/** The benchmark's options; `--help` lists them. @throws Error when a size is not a positive number. */
export function pipelineSettings(argv?: string[]): PipelineSettings {
  const flags = parseBenchArgs(
    {
      run: 'locus bench pipeline -- [options]  (or npm run bench:pipeline -- [options])',
      summary:
        'End-to-end freshness of write → outbox → relay → Kafka → projector → replica, with the five real locus processes, in catalog write-rate steps (open loop) with reviews alongside.',
    },
    {
      rates: { type: 'string', help: 'catalog writes/s of each step (100,500,1000; --quick 100,300)' },
      seconds: { type: 'number', help: 'seconds per step (30; --quick 5)' },
      'review-rate': { type: 'number', help: 'review writes/s during every step (50; --quick 20)' },
      products: { type: 'number', default: 200, help: 'products seeded and repriced' },
      categories: { type: 'number', default: 4, help: 'categories seeded' },
      'poll-ms': { type: 'number', default: 5, help: 'interval of the replica poll, ms' },
      'drain-seconds': { type: 'number', default: 30, help: 'longest wait for a step to drain' },
      'port-base': { type: 'number', default: 38080, help: 'first of the five process ports' },
      'late-seconds': { type: 'number', default: 5, help: 'writes due this long after a step are shed' },
      'max-in-flight': { type: 'number', default: 1000, help: 'unanswered catalog writes before shedding' },
      quick: { type: 'boolean', help: 'a smoke run: two short steps at low rates' },
    },
    argv,
  );
  const quick = flags.quick;
  const settings: PipelineSettings = {
    quick,
    rates: (flags.rates ?? (quick ? '100,300' : '100,500,1000')).split(',').map(Number),
    stepSeconds: flags.seconds ?? (quick ? 5 : 30),
    reviewRate: flags['review-rate'] ?? (quick ? 20 : 50),
    products: flags.products,
    categories: flags.categories,
    pollMs: flags['poll-ms'],
    drainSeconds: flags['drain-seconds'],
    portBase: flags['port-base'],
    lateSeconds: flags['late-seconds'],
    maxInFlight: {
      catalog: flags['max-in-flight'],
      reviews: Math.max(50, Math.floor(flags['max-in-flight'] / 4)),
    },
  };
  const { rates, stepSeconds, reviewRate, products } = settings;
  if (rates.some((r) => !(r > 0)) || !(stepSeconds > 0) || !(reviewRate >= 0) || !(products > 0)) {
    throw new Error('--rates, --seconds, --products must be positive numbers (--review-rate ≥ 0)');
  }
  return settings;
}
