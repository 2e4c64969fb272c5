import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { BytesMeter } from '../../src/query/bytes-meter.js';
import { createPool } from '../../src/shared/postgres.js';

describe('BytesMeter', () => {
  const pool = createPool(process.env.LOCUS_READ_REPLICA_URL!, {
    applicationName: 'locus-test-bytes',
    max: 2,
  });
  afterAll(() => pool.end());

  it('counts the bytes a pool receives, in /metrics, including from closed connections', async () => {
    const registry = new Registry();
    const meter = new BytesMeter(registry);
    meter.meterPool(pool, 'replica');
    await pool.query("SELECT repeat('x', 100000) AS payload");
    const live = meter.total('replica');
    expect(live).toBeGreaterThan(100_000);
    expect(live).toBeLessThan(110_000);

    const client = await pool.connect();
    client.release(true); // destroy: its bytes move to the retired total
    await sleep(50);
    meter.add('reviews-api', 1234);
    const text = await registry.metrics();
    expect(text).toMatch(/locus_query_backend_bytes_received_total\{backend="replica"\} (\d+)/);
    const scraped = Number(/backend="replica"\} (\d+)/.exec(text)?.[1]);
    expect(scraped).toBeGreaterThanOrEqual(live);
    expect(text).toContain('locus_query_backend_bytes_received_total{backend="reviews-api"} 1234');
  });
});
