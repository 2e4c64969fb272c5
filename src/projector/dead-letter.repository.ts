import type { Selectable } from 'kysely';
import type pg from 'pg';
import type { IncomingMessage } from '../messaging/kafka.js';
import { arrayLiteral, type Statement } from '../shared/postgres.js';
import type { ReadStoreDb } from '../shared/read-store.tables.js';
import type { Tx } from './projection.types.js';

export type DeadLetterStatus = ReadStoreDb['dead_letters']['status'];

export interface DeadLetter {
  id: number;
  consumer: string;
  status: DeadLetterStatus;
  reason: string;
  errorCode: string;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  eventType: string | null;
  attempts: number;
  createdAt: Date;
  resolvedAt: Date | null;
}

export interface NewDeadLetter {
  status: 'parked' | 'waiting';
  reason: string;
  errorCode: string;
  message: IncomingMessage;
  eventType: string | null;
  attempts: number;
}

/** A row as COLUMNS selects it: the bigints as text, so no offset or id loses digits. */
type DeadLetterRow = Omit<Selectable<ReadStoreDb['dead_letters']>, 'id' | 'kafka_offset'> & {
  id: string;
  kafka_offset: string;
};

const COLUMNS = `id::text, consumer, status, reason, error_code, topic, partition, kafka_offset::text,
  message_key, value, headers, event_type, attempts, created_at, resolved_at`;

function fromRow(row: DeadLetterRow): DeadLetter {
  return {
    id: Number(row.id),
    consumer: row.consumer,
    status: row.status,
    reason: row.reason,
    errorCode: row.error_code,
    topic: row.topic,
    partition: row.partition,
    offset: row.kafka_offset,
    key: row.message_key,
    value: row.value,
    headers: row.headers,
    eventType: row.event_type,
    attempts: row.attempts,
    createdAt: row.created_at,
    resolvedAt: row.resolved_at,
  };
}

/**
 * Text PostgreSQL can store: U+0000 becomes the six characters `\u0000`. A dead letter keeps whatever
 * a producer sent (a NUL in a key or a header, a reason quoting one); refusing to store it would turn
 * one bad message into a batch that fails for ever. The value itself is kept byte for byte (bytea).
 */
function storableText(text: string): string {
  return text.includes('\0') ? text.replace(/\0/g, '\\u0000') : text;
}

function storableHeaders(headers: Record<string, string>): string {
  const stored: Record<string, string> = {};
  for (const name in headers) stored[storableText(name)] = storableText(headers[name] ?? '');
  return JSON.stringify(stored);
}

/** Parks events in one statement. A re-delivered event already parked is left as it is. */
export async function insertDeadLetters(
  tx: Tx,
  consumer: string,
  letters: readonly NewDeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  await tx.query(
    `INSERT INTO dead_letters (consumer, status, reason, error_code, topic, partition, kafka_offset,
       message_key, value, headers, event_type, attempts)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[],
       $8::text[], $9::bytea[], $10::jsonb[], $11::text[], $12::int[])
     ON CONFLICT (consumer, topic, partition, kafka_offset) DO NOTHING`,
    [
      consumer,
      letters.map((l) => l.status),
      letters.map((l) => storableText(l.reason)),
      letters.map((l) => l.errorCode),
      letters.map((l) => l.message.topic),
      letters.map((l) => l.message.partition),
      letters.map((l) => l.message.offset),
      letters.map((l) => (l.message.key === null ? null : storableText(l.message.key))),
      letters.map((l) => l.message.value),
      letters.map((l) => storableHeaders(l.message.headers)),
      letters.map((l) => (l.eventType === null ? null : storableText(l.eventType))),
      letters.map((l) => l.attempts),
    ],
  );
}

/**
 * Which of the given keys have an open (parked or waiting) dead letter, by topic (read them with
 * blockedKeysOf). One statement for every partition of a group commit.
 */
export function blockedKeysStatement(
  consumer: string,
  keys: readonly { topic: string; key: string }[],
): Statement {
  return {
    text: `SELECT DISTINCT topic, message_key FROM dead_letters
     WHERE consumer = $1 AND status IN ('parked', 'waiting')
       AND (topic, message_key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
    values: [consumer, arrayLiteral(keys.map((k) => k.topic)), arrayLiteral(keys.map((k) => k.key))],
  };
}

/** The rows of blockedKeysStatement as `topic/key`. */
export function blockedKeysOf(rows: readonly { topic: string; message_key: string }[]): Set<string> {
  return new Set(rows.map((row) => `${row.topic}/${row.message_key}`));
}

/**
 * The messages of `ranges` (first to last offset of a partition) that `consumer` skipped, as
 * `topic/partition/offset`: a rebuild honours the live consumer's skips. One statement per range.
 */
export async function skippedOffsets(
  tx: Tx,
  consumer: string,
  ranges: readonly { topic: string; partition: number; first: string; last: string }[],
): Promise<Set<string>> {
  const skipped = new Set<string>();
  for (const { topic, partition, first, last } of ranges) {
    const result = await tx.query<{ kafka_offset: string }>(
      `SELECT kafka_offset::text FROM dead_letters
     WHERE consumer = $1 AND topic = $2 AND partition = $3 AND status = 'skipped'
       AND kafka_offset BETWEEN $4::bigint AND $5::bigint`,
      [consumer, topic, partition, first, last],
    );
    for (const row of result.rows) skipped.add(`${topic}/${partition}/${row.kafka_offset}`);
  }
  return skipped;
}

export async function listDeadLetters(
  db: pg.Pool | Tx,
  consumer: string,
  options: { status?: DeadLetterStatus; limit?: number } = {},
): Promise<DeadLetter[]> {
  const result = await db.query<DeadLetterRow>(
    `SELECT ${COLUMNS} FROM dead_letters WHERE consumer = $1 AND ($2::text IS NULL OR status = $2)
     ORDER BY id LIMIT $3`,
    [consumer, options.status ?? null, options.limit ?? 100],
  );
  return result.rows.map(fromRow);
}

export async function deadLetterForUpdate(tx: Tx, id: number): Promise<DeadLetter | null> {
  const result = await tx.query<DeadLetterRow>(
    `SELECT ${COLUMNS} FROM dead_letters WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = result.rows[0];
  return row ? fromRow(row) : null;
}

/** The events waiting behind a parked one: same consumer, topic and key, in partition order. */
export async function waitingBehind(tx: Tx, head: DeadLetter): Promise<DeadLetter[]> {
  const result = await tx.query<DeadLetterRow>(
    `SELECT ${COLUMNS} FROM dead_letters
     WHERE consumer = $1 AND topic = $2 AND message_key IS NOT DISTINCT FROM $3 AND status = 'waiting'
     ORDER BY partition, kafka_offset FOR UPDATE`,
    [head.consumer, head.topic, head.key],
  );
  return result.rows.map(fromRow);
}

export async function resolveDeadLetter(tx: Tx, id: number, status: 'retried' | 'skipped'): Promise<void> {
  await tx.query(`UPDATE dead_letters SET status = $2, resolved_at = now() WHERE id = $1`, [id, status]);
}

/** Makes a dead letter the head of its key again, with the reason it failed this time. */
export async function reparkDeadLetter(
  tx: Tx,
  id: number,
  failure: { reason: string; errorCode: string },
): Promise<void> {
  await tx.query(
    `UPDATE dead_letters SET status = 'parked', reason = $2, error_code = $3, attempts = attempts + 1
     WHERE id = $1`,
    [id, storableText(failure.reason), failure.errorCode],
  );
}

export async function countOpenDeadLetters(db: pg.Pool, consumer: string): Promise<number> {
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM dead_letters WHERE consumer = $1 AND status IN ('parked', 'waiting')`,
    [consumer],
  );
  return result.rows[0]?.n ?? 0;
}
