import type { Kysely } from 'kysely';
import type { CatalogDb } from '../../src/catalog/catalog.tables.js';
import { appendToOutbox } from '../../src/catalog/outbox.repository.js';
import { ProductUpdatedV1 } from '../../src/contracts/catalog.events.js';
import { createEnvelope } from '../../src/contracts/registry.js';
import { uuidGenerator } from '../../src/shared/clock.js';

/** A product id for test keys: `00000000-0000-4000-8000-<12 digits of n>`. */
export const productKey = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/**
 * Records `product.updated.v1` of `key` at `version` in its own transaction, as a catalog write would
 * (appendToOutbox, the catalog's own outbox write).
 */
export async function appendProductEvent(
  db: Kysely<CatalogDb>,
  topic: string,
  key: string,
  version: number,
  attributes: Record<string, string> = {},
): Promise<void> {
  const now = new Date();
  await db.transaction().execute((trx) =>
    appendToOutbox(trx, {
      topic,
      key,
      envelope: createEnvelope(ProductUpdatedV1, {
        id: uuidGenerator(),
        subject: key,
        time: now,
        aggregateVersion: version,
        data: {
          id: key,
          sku: `SKU-${key.slice(-6)}`,
          name: `product ${key.slice(-6)} v${version}`,
          description: '',
          categoryId: null,
          price: { amount: version * 100, currency: 'EUR' },
          attributes,
          createdAt: now.toISOString(),
          updatedAt: now.toISOString(),
        },
      }),
    }),
  );
}

/** Versions 1..`versions` of keys 1..`keys`, written round by round so the keys interleave. */
export async function appendInterleaved(
  db: Kysely<CatalogDb>,
  topic: string,
  keys: number,
  versions: number,
): Promise<void> {
  for (let version = 1; version <= versions; version++) {
    await Promise.all(
      Array.from({ length: keys }, (_, i) => appendProductEvent(db, topic, productKey(i + 1), version)),
    );
  }
}

export async function pendingRows(db: Kysely<CatalogDb>): Promise<number> {
  const row = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('published_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Product attributes whose JSON is about `bytes` long: entries of strings up to 1,000 characters,
 * shaped as the event schemas allow.
 */
export function attributesOfSize(bytes: number, seed = 0): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (let i = 0, left = bytes; left > 12; i++, left -= 1_010) {
    attributes[`a${i}`] = String((seed + i) % 10).repeat(Math.min(1_000, left - 12));
  }
  return attributes;
}
