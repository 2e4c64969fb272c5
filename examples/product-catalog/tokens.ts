import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ApiToken } from '../../src/shared/auth.tokens.js';

/** The example's bearer tokens: who writes, who operates, and what the services send each other. */
export interface ExampleTokens {
  /** The JSON file the processes read (LOCUS_API_TOKENS_FILE), mode 0600. */
  file: string;
  /** `catalog:write` and `reviews:write`: the seeder's writes. */
  writer: string;
  /** `export` and `admin`: the dumps, dead letters and rebuilds. */
  operator: string;
  /** `export`: the query service's composition calls (LOCUS_SERVICE_TOKEN). */
  service: string;
}

const NAMES = { writer: 'example-writer', operator: 'example-operator', service: 'example-service' } as const;

/**
 * The example's tokens from `<secretsDir>/example-tokens.json`, generated at first use (32 random bytes
 * each) and kept, so a user's shell variables outlive a restart. The directory is 0700, the file 0600.
 */
export function exampleTokens(secretsDir: string): ExampleTokens {
  const file = path.join(secretsDir, 'example-tokens.json');
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  chmodSync(secretsDir, 0o700);
  if (!existsSync(file)) {
    const fresh = () => randomBytes(32).toString('base64url');
    const tokens: ApiToken[] = [
      { name: NAMES.writer, token: fresh(), scopes: ['catalog:write', 'reviews:write'] },
      { name: NAMES.operator, token: fresh(), scopes: ['export', 'admin'] },
      { name: NAMES.service, token: fresh(), scopes: ['export'] },
    ];
    writeFileSync(file, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  const tokens = JSON.parse(readFileSync(file, 'utf8')) as ApiToken[];
  const named = (name: string) => {
    const found = tokens.find((token) => token.name === name);
    if (!found) throw new Error(`${file} has no token named ${name}: delete the file to regenerate it`);
    return found.token;
  };
  return {
    file,
    writer: named(NAMES.writer),
    operator: named(NAMES.operator),
    service: named(NAMES.service),
  };
}

/** Shell lines that read a token of the file into a variable, without printing the secret itself. */
export function tokenShellLine(variable: string, file: string, name: keyof typeof NAMES): string {
  return `${variable}=$(node -p "require('${file}').find((t) => t.name === '${NAMES[name]}').token")`;
}
