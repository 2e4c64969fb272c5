import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `services up` prints its env file so a user sees the addresses; the file also holds every password
// and token, and that output ends up in CI logs. lib.sh's mask_secrets is what stands between them.
const home = mkdtempSync(path.join(os.tmpdir(), 'locus-mask-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function masked(input: string): string {
  const result = spawnSync('bash', ['-c', 'source scripts/services/lib.sh && mask_secrets'], {
    input,
    encoding: 'utf8',
    env: { ...process.env, LOCUS_HOME: home },
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

describe('mask_secrets (scripts/services/lib.sh)', () => {
  it('hides the password of every URL and the value of every *_PASSWORD and *_TOKEN, and keeps the rest', () => {
    const input = [
      'LOCUS_CATALOG_DB_URL=postgres://locus_catalog:s3cr-et_x@127.0.0.1:54320/catalog',
      'LOCUS_MONGO_URL=mongodb://locus_reviews:p4ss@127.0.0.1:27017/reviews?authMechanism=PLAIN',
      'LOCUS_KAFKA_BROKERS=127.0.0.1:9092',
      'LOCUS_KAFKA_RELAY_USER=relay',
      'LOCUS_KAFKA_RELAY_PASSWORD=k-pass',
      'LOCUS_DEV_TOKEN=tok_123',
      '',
    ].join('\n');
    const output = masked(input);
    for (const secret of ['s3cr-et_x', 'p4ss', 'k-pass', 'tok_123']) expect(output).not.toContain(secret);
    expect(output.split('\n')).toEqual([
      'LOCUS_CATALOG_DB_URL=postgres://locus_catalog:***@127.0.0.1:54320/catalog',
      'LOCUS_MONGO_URL=mongodb://locus_reviews:***@127.0.0.1:27017/reviews?authMechanism=PLAIN',
      'LOCUS_KAFKA_BROKERS=127.0.0.1:9092',
      'LOCUS_KAFKA_RELAY_USER=relay',
      'LOCUS_KAFKA_RELAY_PASSWORD=***',
      'LOCUS_DEV_TOKEN=***',
      '',
    ]);
  });

  it('leaves a URL without credentials alone', () => {
    expect(masked('LOCUS_MONGO_URL=mongodb://127.0.0.1:27017/reviews\n')).toBe(
      'LOCUS_MONGO_URL=mongodb://127.0.0.1:27017/reviews\n',
    );
  });
});
