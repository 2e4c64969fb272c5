import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createBatchPump, type BatchPumpOptions, type FetchedBatch } from '../../src/messaging/batch-pump.js';
import type { IncomingBatch, PartitionPosition } from '../../src/messaging/kafka.js';
import { createLogger } from '../../src/shared/logger.js';

const logger = createLogger('batch-pump-test', 'silent');
const tick = () => sleep(5);

/** A batch of `count` messages of partition `partition` starting at `from`, as the client hands it. */
function fetched(partition: number, from: number, count: number, state = { stale: false }): FetchedBatch {
  const batch: IncomingBatch = {
    topic: 't',
    partition,
    highWatermark: String(from + count),
    messages: Array.from({ length: count }, (_, i) => ({
      topic: 't',
      partition,
      offset: String(from + i),
      key: 'k',
      value: null,
      headers: {},
      timestamp: 0,
    })),
  };
  return {
    isRunning: () => true,
    isStale: () => state.stale,
    heartbeat: async () => undefined,
    read: () => batch,
  };
}

const offsets = (batches: IncomingBatch[]) => batches.map((b) => `${b.partition}@${b.messages[0]!.offset}`);

function pumpWith(handleBatches: BatchPumpOptions['handleBatches'], extra: Partial<BatchPumpOptions> = {}) {
  const seeks: PartitionPosition[] = [];
  const pump = createBatchPump(
    {
      positions: async (assigned) => assigned.map((a) => ({ ...a, offset: '0' })),
      handleBatches,
      retryDelayMs: 1,
      ...extra,
    },
    (position) => seeks.push(position),
    logger,
  );
  return { pump, seeks };
}

describe('the batch pump', () => {
  it('given batches fetched while a call runs, when it ends, then the next call takes them all, in order', async () => {
    const calls: string[][] = [];
    let release: () => void = () => undefined;
    const { pump } = pumpWith(async (batches) => {
      calls.push(offsets(batches));
      if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve));
    });
    await pump.offer(fetched(0, 0, 2));
    await tick();
    await pump.offer(fetched(0, 2, 2));
    await pump.offer(fetched(1, 0, 3));
    release();
    await tick();
    expect(calls).toEqual([['0@0'], ['0@2', '1@0']]);
  });

  it('given a call that fails, when the pump resumes, then what was fetched behind it is dropped and partitions seek to positions()', async () => {
    const calls: string[][] = [];
    let fail: (error: Error) => void = () => undefined;
    const { pump, seeks } = pumpWith(async (batches) => {
      calls.push(offsets(batches));
      if (calls.length === 1) await new Promise<void>((_resolve, reject) => (fail = reject));
    });
    pump.reassigned([{ topic: 't', partition: 0 }]);
    await tick();
    seeks.length = 0;
    await pump.offer(fetched(0, 0, 2));
    await tick();
    await pump.offer(fetched(0, 2, 2)); // fetched ahead of the call that fails
    fail(new Error('store down'));
    await tick();
    expect(seeks).toEqual([{ topic: 't', partition: 0, offset: '0' }]);
    await pump.offer(fetched(0, 0, 4)); // the fetch after the seek
    await tick();
    expect(calls).toEqual([['0@0'], ['0@0']]);
  });

  it('given more messages waiting than maxPendingMessages, when offered, then the fetcher waits until a call takes them', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const { pump } = pumpWith(
      async () => {
        calls += 1;
        if (calls === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      { maxPendingMessages: 3 },
    );
    await pump.offer(fetched(0, 0, 1));
    await tick();
    await pump.offer(fetched(0, 1, 3)); // fills the queue
    let returned = false;
    const held = pump.offer(fetched(0, 4, 1)).then(() => (returned = true));
    await tick();
    expect(returned).toBe(false);
    release();
    await held;
    expect(returned).toBe(true);
  });

  it('given a stale batch or a reassignment, when offered, then nothing fetched before the seek is handled', async () => {
    const calls: string[][] = [];
    const { pump, seeks } = pumpWith(async (batches) => void calls.push(offsets(batches)));
    await pump.offer(fetched(0, 5, 1, { stale: true }));
    pump.reassigned([{ topic: 't', partition: 1 }]);
    await pump.offer(fetched(0, 6, 1)); // held until the seeks are set, then dropped
    await tick();
    expect(seeks).toEqual([{ topic: 't', partition: 1, offset: '0' }]);
    expect(calls).toEqual([]);
  });

  it('given a call in flight, when stopping, then offers are dropped and idle waits for the call', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const { pump } = pumpWith(async () => {
      calls += 1;
      await new Promise<void>((resolve) => (release = resolve));
    });
    await pump.offer(fetched(0, 0, 1));
    await tick();
    pump.stopping();
    await pump.offer(fetched(0, 1, 1));
    let idle = false;
    const stopped = pump.idle().then(() => (idle = true));
    await tick();
    expect(idle).toBe(false);
    release();
    await stopped;
    expect(calls).toBe(1);
  });
});
