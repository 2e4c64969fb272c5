import type { HttpAnswer, HttpClient } from '../lib/http-client.js';
import { now, type ReplicaFreshnessPoller } from './freshness-poller.js';
import type { SeededCatalog } from './pipeline.seed.js';
import type { Kind, PipelineSettings } from './pipeline.settings.js';

/** Failed writes by step and reason (`PATCH 503 LOCUS_…`): counted, not sampled, for the report. */
export class ErrorCounts {
  private readonly byStep = new Map<number, Record<string, number>>();

  note(step: number, reason: string): void {
    const counts = this.byStep.get(step) ?? {};
    counts[reason] = (counts[reason] ?? 0) + 1;
    this.byStep.set(step, counts);
  }

  of(step: number): Record<string, number> {
    return this.byStep.get(step) ?? {};
  }
}

function reasonOf(what: string, answer: HttpAnswer): string {
  let code = '';
  try {
    code = (JSON.parse(answer.body) as { code?: string }).code ?? '';
  } catch {
    // not a locus error body
  }
  return `${what} ${answer.status} ${code}`.trim();
}

export interface StepWriters {
  /** Reprices product `i mod products` through the catalog. */
  patch(i: number): Promise<void>;
  /** Creates a review of product `7i mod products` through the reviews service. */
  review(i: number): Promise<void>;
  /** Writes shed: due while too many were unanswered, or `lateSeconds` after the step's end. */
  notSent: Record<Kind, number>;
}

export interface WriteTargets {
  client: HttpClient;
  catalogUrl: string;
  reviewsUrl: string;
  poller: ReplicaFreshnessPoller;
  seeded: SeededCatalog;
  errors: ErrorCounts;
  settings: PipelineSettings;
}

/**
 * The writes of step `step`, each followed to the replica by its token. A machine too slow for the
 * rate must not turn the step into a queue without end: a write due while `maxInFlight` of its kind
 * are unanswered is not sent (shed, and counted), and the step stops sending `lateSeconds` after its
 * end. runOpenLoop's own cap is never reached, so it keeps its schedule.
 */
export function stepWriters(targets: WriteTargets, step: number): StepWriters {
  const { client, poller, seeded, errors, settings } = targets;
  const sendUntil = now() + (settings.stepSeconds + settings.lateSeconds) * 1000;
  const notSent = { catalog: 0, reviews: 0 };
  const inFlight = { catalog: 0, reviews: 0 };
  const admit = (kind: Kind) => {
    if (now() <= sendUntil && inFlight[kind] < settings.maxInFlight[kind]) {
      inFlight[kind] += 1;
      return () => (inFlight[kind] -= 1);
    }
    notSent[kind] += 1;
    throw new Error('not sent: behind schedule or too many in flight');
  };
  const write = async (kind: Kind, what: string, expected: number, request: () => Promise<HttpAnswer>) => {
    const release = admit(kind);
    const answer = await request()
      .finally(release)
      .catch((e: unknown) => {
        errors.note(step, `transport: ${String(e).slice(0, 80)}`);
        throw e;
      });
    if (answer.status !== expected || !answer.token) {
      errors.note(step, reasonOf(what, answer));
      throw new Error(`${what} answered ${answer.status}`);
    }
    poller.add(answer.token, kind, step, now());
  };
  const patch = (i: number) =>
    write('catalog', 'PATCH', 200, () => {
      const p = i % settings.products;
      seeded.prices[p] = 1000 + ((seeded.prices[p]! + 1) % 100_000);
      return client.send('PATCH', `${targets.catalogUrl}/products/${seeded.productIds[p]}`, {
        price: { amount: seeded.prices[p], currency: 'EUR' },
      });
    });
  const review = (i: number) =>
    write('reviews', 'POST review', 201, () =>
      client.send(
        'POST',
        `${targets.reviewsUrl}/products/${seeded.productIds[(i * 7) % settings.products]}/reviews`,
        {
          author: `bench${i % 97}`,
          rating: 1 + (i % 5),
          title: 'Pipeline review',
          body: 'Written by the pipeline benchmark to measure freshness end to end.',
        },
      ),
    );
  return { patch, review, notSent };
}
