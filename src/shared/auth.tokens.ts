import { readFileSync, statSync } from 'node:fs';
import { Ajv } from 'ajv';
import Type from 'typebox';
import { optionalSetting } from './config.js';
import { LocusError } from './errors.js';

/**
 * What a bearer token may do. `catalog:write` and `reviews:write`: the write services' POST, PUT,
 * PATCH and DELETE; `export`: the bulk dumps (`/export/*`, the query service's `/analytics/export`);
 * `admin`: the projector's and the relay's `/admin/*`; `read`: the query service's reads when
 * LOCUS_QUERY_READS=token.
 */
export const SCOPES = ['catalog:write', 'reviews:write', 'export', 'admin', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

/** Shorter tokens are refused at boot: a guessable token is no credential. */
const MIN_TOKEN_LENGTH = 16;

const ApiTokenSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    token: Type.String({ minLength: MIN_TOKEN_LENGTH, maxLength: 512, pattern: '^[\\x21-\\x7e]+$' }),
    scopes: Type.Array(Type.Union(SCOPES.map((scope) => Type.Literal(scope))), { minItems: 1 }),
  },
  { additionalProperties: false },
);
const ApiTokenList = Type.Array(ApiTokenSchema);

/** One accepted token: `name` says who holds it, for the startup log (the token itself is never logged). */
export interface ApiToken {
  name: string;
  token: string;
  scopes: Scope[];
}

const isTokenList = new Ajv({ strict: false }).compile<ApiToken[]>(ApiTokenList);

/**
 * The tokens this process accepts, from LOCUS_API_TOKENS_FILE (a JSON file only its owner may read),
 * LOCUS_API_TOKENS (the same JSON inline) and LOCUS_DEV_TOKEN (every scope). Each list is
 * `[{"name": "bench", "token": "…", "scopes": ["catalog:write"]}]`. None set: an empty list, and the
 * process refuses every protected route.
 * @throws LocusError LOCUS_CONFIG_INVALID naming the setting: unreadable or group/world-readable file,
 *   malformed JSON, an unknown scope, a token shorter than 16 characters.
 */
export function loadApiTokens(env: NodeJS.ProcessEnv = process.env): ApiToken[] {
  const tokens: ApiToken[] = [];
  const file = optionalSetting('LOCUS_API_TOKENS_FILE', env);
  if (file !== undefined) tokens.push(...parseTokens('LOCUS_API_TOKENS_FILE', readTokenFile(file)));
  const inline = optionalSetting('LOCUS_API_TOKENS', env);
  if (inline !== undefined) tokens.push(...parseTokens('LOCUS_API_TOKENS', inline));
  const dev = optionalSetting('LOCUS_DEV_TOKEN', env);
  if (dev !== undefined) {
    tokens.push(
      ...parseTokens('LOCUS_DEV_TOKEN', JSON.stringify([{ name: 'dev', token: dev, scopes: SCOPES }])),
    );
  }
  return tokens;
}

/**
 * The token this service sends to the others it calls (the reviews service's product check, the
 * query service's composition): LOCUS_SERVICE_TOKEN, else LOCUS_DEV_TOKEN, else none.
 */
export function serviceToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return optionalSetting('LOCUS_SERVICE_TOKEN', env) ?? optionalSetting('LOCUS_DEV_TOKEN', env);
}

/** `Authorization: Bearer <token>` as a headers object, or none without a token. */
export function bearerHeader(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

function readTokenFile(file: string): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new LocusError('LOCUS_CONFIG_INVALID', `LOCUS_API_TOKENS_FILE: cannot read ${file}`, {
      cause: error,
    });
  }
  // Like ssh with its keys: a secret others can read is already leaked.
  if ((mode & 0o077) !== 0) {
    throw new LocusError(
      'LOCUS_CONFIG_INVALID',
      `LOCUS_API_TOKENS_FILE: ${file} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  return text;
}

function parseTokens(setting: string, text: string): ApiToken[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new LocusError('LOCUS_CONFIG_INVALID', `${setting} is not JSON: expected [{name, token, scopes}]`);
  }
  if (!isTokenList(parsed)) {
    // Ajv's messages name the field, never the value: no token reaches the log this way.
    const problem = isTokenList.errors?.[0];
    throw new LocusError(
      'LOCUS_CONFIG_INVALID',
      `${setting}: ${problem?.instancePath || '/'} ${problem?.message ?? 'invalid'} ` +
        `(expected [{name, token (at least ${MIN_TOKEN_LENGTH} visible characters), scopes: ${SCOPES.join('|')}}])`,
    );
  }
  return parsed;
}
