/** A tiny JSON-over-HTTP client for the example: it talks to locus only through its REST APIs. */
export interface JsonResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

export async function requestJson<T = unknown>(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : null) as T };
}

/** Like requestJson, but a non-2xx answer is an error that shows the locus error body. */
export async function expectJson<T = unknown>(
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<JsonResponse<T>> {
  const response = await requestJson<T>(method, url, body, headers);
  if (response.status >= 300) {
    throw new Error(`${method} ${url} answered ${response.status}: ${JSON.stringify(response.body)}`);
  }
  return response;
}

/** Runs `work` over `items` with at most `concurrency` in flight, in order of start. */
export async function forEachConcurrently<T>(
  items: Iterable<T>,
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const workers = Array.from({ length: concurrency }, async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value);
  });
  await Promise.all(workers);
}
