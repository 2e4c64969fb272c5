import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Topics } from '../../src/contracts/topics.js';
import type { Broker, MessageProducer } from '../../src/messaging/kafka.js';
import { toMessage, type EventWriter } from '../../testkit/events.js';
import { peakRssMbOf } from '../lib/process-sampler.js';
import { progressBar } from '../lib/progress.js';
import { endTotal, storedTotal } from './projector.positions.js';

/** The projector process under measurement and what it reads and writes. */
export interface ProjectorRig {
  broker: Broker;
  producer: MessageProducer;
  topics: Topics;
  /** The read store, where the projector stores its positions. */
  pool: pg.Pool;
  consumer: string;
  pid: number;
}

/**
 * Waits until the projector has committed every message of the topics, with a bar; events/s count
 * from its first commit (and, separately, from its spawn at `spawnedAt`).
 */
export async function measureCatchUp(rig: ProjectorRig, spawnedAt: number) {
  const total = await endTotal(rig.broker, rig.topics);
  const bar = progressBar('catch-up [{bar}] {value}/{total} events | {rate} ev/s | ETA {eta_formatted}');
  bar.start(total, 0, { rate: 0 });
  let firstCommitAt: number | undefined;
  for (;;) {
    const done = await storedTotal(rig.pool, rig.consumer);
    if (done > 0 && firstCommitAt === undefined) firstCommitAt = performance.now();
    const seconds = (performance.now() - (firstCommitAt ?? spawnedAt)) / 1000;
    bar.update(done, { rate: Math.round(done / Math.max(seconds, 0.001)) });
    if (done >= total) break;
    await sleep(200);
  }
  bar.stop();
  const caughtUpAt = performance.now();
  return {
    events: total,
    secondsFromSpawn: (caughtUpAt - spawnedAt) / 1000,
    secondsFromFirstCommit: (caughtUpAt - firstCommitAt!) / 1000,
    eventsPerSecond: Math.round(total / ((caughtUpAt - firstCommitAt!) / 1000)),
    eventsPerSecondIncludingStartup: Math.round(total / ((caughtUpAt - spawnedAt) / 1000)),
    peakRssMbAfterCatchUp: peakRssMbOf(rig.pid),
    target: 25_000,
  };
}

export type CatchUp = Awaited<ReturnType<typeof measureCatchUp>>;

/**
 * Produces `rate` events/s for `seconds` (40% price updates, 60% new reviews on live products) with
 * the projector at the head, sampling its lag every second: is the lag flat?
 */
export async function measureSustained(
  rig: ProjectorRig,
  writer: EventWriter,
  random: () => number,
  rate: number,
  seconds: number,
) {
  const products = writer.liveProductIds();
  const lagSamples: number[] = [];
  const bar = progressBar('sustain [{bar}] {value}/{total} s | lag {lag}');
  bar.start(seconds, 0, { lag: 0 });
  const started = performance.now();
  let sent = 0;
  let nextSample = 1;
  while (performance.now() - started < seconds * 1000) {
    const elapsed = (performance.now() - started) / 1000;
    const due = Math.floor(elapsed * rate) - sent;
    if (due > 0) {
      for (let i = 0; i < due; i++) {
        const id = products[Math.floor(random() * products.length)]!;
        if (random() < 0.4) writer.product({ id, price: 100 + Math.floor(random() * 10_000) });
        else writer.review({ productId: id, rating: 1 + Math.floor(random() * 5) });
      }
      const batch = writer.events.splice(0);
      for (let i = 0; i < batch.length; i += 2_000)
        await rig.producer.send(batch.slice(i, i + 2_000).map((e) => toMessage(rig.topics, e)));
      sent += due;
    }
    if (elapsed >= nextSample) {
      const lag = (await endTotal(rig.broker, rig.topics)) - (await storedTotal(rig.pool, rig.consumer));
      lagSamples.push(lag);
      bar.update(nextSample, { lag });
      nextSample += 1;
    }
    await sleep(20);
  }
  bar.stop();
  return sustainedFigures(rate, sent, (performance.now() - started) / 1000, lagSamples, rig.pid);
}

function sustainedFigures(rate: number, sent: number, seconds: number, lagSamples: number[], pid: number) {
  const half = Math.floor(lagSamples.length / 2);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    targetRate: rate,
    producedRate: Math.round(sent / seconds),
    seconds,
    lagSamples,
    lagMax: Math.max(...lagSamples),
    lagMeanFirstHalf: Math.round(mean(lagSamples.slice(0, half))),
    lagMeanSecondHalf: Math.round(mean(lagSamples.slice(half))),
    // flat = the lag neither grows nor shrinks: its least-squares slope over the second half ≈ 0
    lagSlopePerSecondSecondHalf: Math.round(slope(lagSamples.slice(half))),
    peakRssMb: peakRssMbOf(pid),
  };
}

export type Sustained = ReturnType<typeof sustainedFigures>;

/** Least-squares slope of equally spaced samples (per sample). */
function slope(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const meanX = (n - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}
