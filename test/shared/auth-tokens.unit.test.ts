import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadApiTokens, SCOPES, serviceToken } from '../../src/shared/auth.tokens.js';
import { LocusError } from '../../src/shared/errors.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'locus-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WRITER = { name: 'bench', token: 'w'.repeat(32), scopes: ['catalog:write'] };

function tokenFile(mode: number, content: unknown = [WRITER]): string {
  const file = path.join(dir, `tokens-${mode.toString(8)}.json`);
  writeFileSync(file, JSON.stringify(content));
  chmodSync(file, mode);
  return file;
}

function refusal(env: NodeJS.ProcessEnv): LocusError {
  try {
    loadApiTokens(env);
  } catch (error) {
    if (error instanceof LocusError) return error;
    throw error;
  }
  throw new Error('expected loadApiTokens to refuse');
}

describe('loadApiTokens', () => {
  it('given nothing set, accepts no token (every protected route answers 401)', () => {
    expect(loadApiTokens({})).toEqual([]);
  });

  it('accepts the dev token with every scope, the file and the inline list together', () => {
    const tokens = loadApiTokens({
      LOCUS_API_TOKENS_FILE: tokenFile(0o600),
      LOCUS_API_TOKENS: JSON.stringify([{ name: 'ops', token: 'a'.repeat(20), scopes: ['admin'] }]),
      LOCUS_DEV_TOKEN: 'd'.repeat(43),
    });
    expect(tokens.map((t) => [t.name, t.scopes])).toEqual([
      ['bench', ['catalog:write']],
      ['ops', ['admin']],
      ['dev', [...SCOPES]],
    ]);
  });

  it('refuses a token file others may read, naming the setting and the mode', () => {
    const error = refusal({ LOCUS_API_TOKENS_FILE: tokenFile(0o644) });
    expect(error.code).toBe('LOCUS_CONFIG_INVALID');
    expect(error.message).toMatch(/^LOCUS_API_TOKENS_FILE: .*readable by others \(mode 644\)/);
  });

  it.each([
    ['not JSON', 'catalog:write'],
    ['an unknown scope', JSON.stringify([{ ...WRITER, scopes: ['root'] }])],
    ['a short token', JSON.stringify([{ ...WRITER, token: 'short-secret' }])],
    ['a token with a space', JSON.stringify([{ ...WRITER, token: `${'x'.repeat(20)} y` }])],
  ])('refuses %s without echoing the token', (_label, value) => {
    const error = refusal({ LOCUS_API_TOKENS: value });
    expect(error.code).toBe('LOCUS_CONFIG_INVALID');
    expect(error.message).toMatch(/^LOCUS_API_TOKENS/);
    expect(error.message).not.toContain('short-secret');
    expect(error.message).not.toContain('x'.repeat(20));
  });

  it('refuses a dev token shorter than 16 characters', () => {
    expect(refusal({ LOCUS_DEV_TOKEN: 'dev' }).message).toMatch(/^LOCUS_DEV_TOKEN/);
  });
});

describe('serviceToken', () => {
  it('is LOCUS_SERVICE_TOKEN, else the dev token, else none', () => {
    expect(serviceToken({ LOCUS_SERVICE_TOKEN: 's', LOCUS_DEV_TOKEN: 'd' })).toBe('s');
    expect(serviceToken({ LOCUS_DEV_TOKEN: 'd' })).toBe('d');
    expect(serviceToken({ LOCUS_SERVICE_TOKEN: '' })).toBeUndefined();
  });
});
