import { requestJson } from './http.js';
import type { Endpoints, SeedResult } from './seed.js';
import { tokenShellLine, type ExampleTokens } from './tokens.js';

const SERVED_HEADERS = [
  'locus-strategy',
  'locus-backend',
  'locus-replica-lag-ms',
  'locus-projector-commit-age-ms',
];

/** A handful of REST calls with their answers, how fresh they were and where they were served. */
export async function printTour(
  endpoints: Endpoints,
  seeded: SeedResult,
  projectorUrl: string,
): Promise<void> {
  const category = seeded.categoryIds[0];
  const calls: [string, string][] = [
    ['top products by rating', `/products?sort=rating&limit=3`],
    ['one product, read-your-writes after the last review', `/products/${seeded.productIds[0]}`],
    ['a category summary', `/categories/${category}/summary`],
    [
      'top-rated per category (stored procedure on the replica)',
      `/analytics/top-rated?limit=3&categoryId=${category}`,
    ],
    [
      'the same, computed in the query service',
      `/analytics/top-rated?limit=3&categoryId=${category}&strategy=service-join`,
    ],
    ['rating trend by week', `/analytics/rating-trend?bucket=week`],
  ];
  console.log('\n══ tour ══');
  for (const [what, path] of calls) {
    const headers: Record<string, string> = seeded.lastToken
      ? { 'locus-consistency-token': seeded.lastToken }
      : {};
    const started = performance.now();
    const response = await requestJson('GET', `${endpoints.query}${path}`, undefined, headers);
    const ms = (performance.now() - started).toFixed(1);
    console.log(`\n# ${what}\nGET ${endpoints.query}${path} → ${response.status} in ${ms} ms`);
    const served = SERVED_HEADERS.filter((h) => response.headers.has(h)).map(
      (h) => `${h}: ${response.headers.get(h)}`,
    );
    if (served.length) console.log(`  ${served.join(' | ')}`);
    console.log(indent(summarize(response.body)));
  }
  console.log(`
══ try next ══
  API docs:        ${endpoints.query}/documentation   (catalog ${endpoints.catalog}/documentation, reviews ${endpoints.reviews}/documentation)
  metrics:         ${projectorUrl}/metrics   (freshness, lag, dead letters)
  health:          ${projectorUrl}/health
  export (NDJSON): ${endpoints.query}/analytics/export   (needs a token, below)
`);
}

/** How to call the protected routes with the example's tokens, naming the file, never the secrets. */
export function printCredentials(
  endpoints: Endpoints,
  projectorUrl: string,
  tokens: Pick<ExampleTokens, 'file'>,
): void {
  console.log(`
══ credentials ══
  Writes, exports and admin routes need a bearer token: no token gets 401, one without the scope 403.
  The example's tokens are in ${tokens.file} (mode 0600); reads of the query service are open.
  ${tokenShellLine('WRITER', tokens.file, 'writer')}
  ${tokenShellLine('OPERATOR', tokens.file, 'operator')}
  curl -X POST -H "Authorization: Bearer $WRITER" -H 'content-type: application/json' \\
    -d '{"name":"Teapots"}' ${endpoints.catalog}/categories
  curl -H "Authorization: Bearer $OPERATOR" ${endpoints.query}/analytics/export
  curl -H "Authorization: Bearer $OPERATOR" ${projectorUrl}/admin/dead-letters
  The docs pages' "Authorize" button takes a token too.
`);
}

// The list a reader cares about in each answer, and fields the one-line summaries leave out (long
// text and identifiers a reader skims past).
const LIST_FIELDS = ['items', 'categories', 'points'];
const QUIET_FIELDS = new Set([
  'id',
  'description',
  'body',
  'attributes',
  'createdAt',
  'updatedAt',
  'categoryId',
  'sku',
]);

/** Lists become one compact line per item (at most five); anything else one compact line. */
function summarize(body: unknown): string {
  const record = (body ?? {}) as Record<string, unknown>;
  const items = Array.isArray(body) ? body : LIST_FIELDS.map((field) => record[field]).find(Array.isArray);
  if (!Array.isArray(items)) return line(body);
  const shown = items.slice(0, 5).map((item) => `- ${line(item)}`);
  if (items.length > 5) shown.push(`… ${items.length - 5} more`);
  return [`${items.length} item${items.length === 1 ? '' : 's'}`, ...shown].join('\n');
}

function line(value: unknown, max = 220): string {
  const text = JSON.stringify(value, (key, v: unknown) => (QUIET_FIELDS.has(key) ? undefined : v));
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
