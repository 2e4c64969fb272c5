import type { Deadline } from './deadline.js';

/**
 * Streamed answers of the heavy endpoints as text chunks: one request into millions of rows must
 * not hold its whole answer in memory. Each stream stops, failing it, once the deadline passes.
 * `first` is the first item, read before answering so that a source failing at once still gets a
 * proper error status instead of a truncated 200.
 */

/** Chunks of at least this many characters are handed to the socket. */
const CHUNK_CHARS = 64 * 1024;

const ndjsonLine = (item: unknown) => `${JSON.stringify(item)}\n`;
const arrayItem = (item: unknown, index: number) => `${index > 0 ? ',' : ''}${JSON.stringify(item)}`;

/** Items as text, in chunks; stops (failing the stream) when the deadline passes. */
async function* chunked<T>(
  first: IteratorResult<T>,
  rest: AsyncGenerator<T>,
  deadline: Deadline,
  what: string,
  encode: (item: T, index: number) => string,
): AsyncGenerator<string> {
  if (first.done) return;
  let index = 0;
  let chunk = encode(first.value, index++);
  for await (const item of rest) {
    chunk += encode(item, index++);
    if (chunk.length >= CHUNK_CHARS) {
      deadline.check(what);
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** The items as NDJSON: one JSON document per line. */
export function ndjsonChunks<T>(
  first: IteratorResult<T>,
  rest: AsyncGenerator<T>,
  deadline: Deadline,
  what: string,
): AsyncGenerator<string> {
  return chunked(first, rest, deadline, what, ndjsonLine);
}

/** A JSON document `head` + the items as array elements + `tail`. */
export async function* jsonArrayChunks<T>(
  head: string,
  first: IteratorResult<T>,
  rest: AsyncGenerator<T>,
  tail: string,
  deadline: Deadline,
  what: string,
): AsyncGenerator<string> {
  yield head;
  yield* chunked(first, rest, deadline, what, arrayItem);
  yield tail;
}
