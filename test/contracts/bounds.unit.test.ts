import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import {
  Attributes,
  BoundedAttributes,
  MAX_PRICE_AMOUNT,
  Money,
  RATING_SUM_CAPACITY,
  SafeText,
} from '../../src/contracts/bounds.js';
import { REPO_ROOT } from '../../src/migrate/migrator.js';

/** Column types of every table the migrations of one store create or alter, as `table.column` → type. */
function columnTypes(store: 'readmodel' | 'catalog'): Map<string, string> {
  const dir = path.join(REPO_ROOT, 'migrations', store);
  const types = new Map<string, string>();
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()) {
    const sql = readFileSync(path.join(dir, file), 'utf8').replace(/--.*$/gm, '');
    for (const [, table, body] of sql.matchAll(/CREATE TABLE (\w+) \(([\s\S]*?)\n\);/g)) {
      for (const line of body!.split('\n')) {
        const column = /^\s*(\w+)\s+(\w+(?:\s*\(\s*\d+\s*,\s*\d+\s*\))?(?:\[\])?)/.exec(line);
        if (column && !/^(PRIMARY|UNIQUE|CONSTRAINT|CHECK)$/i.test(column[1]!)) {
          types.set(`${table}.${column[1]}`, column[2]!.replace(/\s+/g, '').toLowerCase());
        }
      }
    }
    for (const [, table, column, type] of sql.matchAll(
      /ALTER TABLE (\w+) ALTER COLUMN (\w+) (?:SET DATA )?TYPE (\w+(?:\s*\(\s*\d+\s*,\s*\d+\s*\))?)/gi,
    )) {
      types.set(`${table}.${column}`, type!.replace(/\s+/g, '').toLowerCase());
    }
  }
  return types;
}

const INT4_MAX = 2 ** 31 - 1;
const INT8_MAX = 2n ** 63n - 1n;

/** The largest value a column of this type holds (integer part for numeric(p, s)). */
function capacityOf(type: string | undefined): bigint {
  if (type === 'integer' || type === 'int' || type === 'int4') return BigInt(INT4_MAX);
  if (type === 'bigint' || type === 'int8') return INT8_MAX;
  const numeric = /^numeric\((\d+),(\d+)\)$/.exec(type ?? '');
  if (numeric) return 10n ** BigInt(Number(numeric[1]) - Number(numeric[2])) - 1n;
  throw new Error(`no capacity known for column type ${type}`);
}

describe('the bounds (src/contracts/bounds.ts) against the stores that hold them', () => {
  const views = columnTypes('readmodel');
  const catalog = columnTypes('catalog');

  it('every price column, and the average over prices, holds MAX_PRICE_AMOUNT', () => {
    for (const column of [
      'product_summary.price_amount',
      'category_summary.price_min',
      'category_summary.price_max',
      'category_summary.price_avg',
    ]) {
      expect(capacityOf(views.get(column)), column).toBeGreaterThanOrEqual(BigInt(MAX_PRICE_AMOUNT));
    }
    expect(capacityOf(catalog.get('products.price_amount'))).toBeGreaterThanOrEqual(BigInt(MAX_PRICE_AMOUNT));
    expect(Number.isSafeInteger(MAX_PRICE_AMOUNT)).toBe(true);
  });

  it('the rating counters are integers, and the rating sum holds five stars per counted review', () => {
    for (const column of [
      'product_summary.review_count',
      'product_summary.rating_sum',
      'category_summary.review_count',
      // per day, so far below the per-product and per-category totals the capacity bounds
      'product_day_rollup.review_count',
      'product_day_rollup.rating_sum',
      'category_day_rollup.review_count',
      'category_day_rollup.rating_sum',
    ]) {
      expect(capacityOf(views.get(column)), column).toBe(BigInt(INT4_MAX));
    }
    expect(RATING_SUM_CAPACITY * 5).toBeLessThanOrEqual(INT4_MAX);
    // average_rating numeric(6, 4) holds 5.0000
    expect(capacityOf(views.get('product_summary.average_rating'))).toBeGreaterThanOrEqual(5n);
  });

  it('the money schema admits MAX_PRICE_AMOUNT and refuses one more, in ajv and typebox/compile alike', () => {
    const ajv = new Ajv({ strict: false }).compile(Money as object);
    const typebox = Compile(Money);
    for (const [amount, valid] of [
      [MAX_PRICE_AMOUNT, true],
      [MAX_PRICE_AMOUNT + 1, false],
      [411_897_507_690_472, false],
    ] as const) {
      const money = { amount, currency: 'EUR' };
      expect([ajv(money), typebox.Check(money)], String(amount)).toEqual([valid, valid]);
    }
  });

  it('SafeText admits any valid Unicode but U+0000, and counts code points, in ajv and typebox/compile alike', () => {
    const schema = SafeText({ maxLength: 3 });
    const ajv = new Ajv({ strict: false }).compile(schema as object);
    const typebox = Compile(schema);
    for (const [text, valid] of [
      ['abc', true],
      ['😀😀😀', true],
      ['😀😀😀😀', false],
      ['e\u0301', true],
      ['\u200f', true],
      ['a\u0000', false],
      ['\ud800', false],
      ['x\udc00', false],
      ['\ud83d', false],
    ] as const) {
      expect([ajv(text), typebox.Check(text)], JSON.stringify(text)).toEqual([valid, valid]);
    }
  });

  it('attributes: safe keys, bounded depth and numbers; the event schema also bounds the size', () => {
    const ajv = new Ajv({ strict: false }).compile(Attributes as object);
    const typebox = Compile(BoundedAttributes);
    const nested = (depth: number): unknown => (depth === 0 ? 1 : { k: nested(depth - 1) });
    for (const [attributes, valid] of [
      [{ a: nested(5) }, true],
      [{ a: nested(6) }, false],
      [{ $where: 1 }, false],
      [{ 'a.b': 1 }, false],
      [{ a: Number.MAX_SAFE_INTEGER }, true],
      [{ a: Number.MAX_SAFE_INTEGER + 1 }, false],
      [{ a: '\u0000' }, false],
    ] as const) {
      expect([ajv(attributes), typebox.Check(attributes)], JSON.stringify(attributes)).toEqual([
        valid,
        valid,
      ]);
    }
    const large = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'x'.repeat(200)]));
    expect([ajv(large), typebox.Check(large)]).toEqual([true, false]);
  });
});
