import type pg from 'pg';
import type { SourceCategory, SourceProduct, SourceReview } from './source-snapshot.js';

export interface ViewDifference {
  view: string;
  /** The row's key (an id). */
  id: string;
  /** missing: the source has it, the view does not; unexpected: the reverse; different: both, unequal. */
  kind: 'missing' | 'unexpected' | 'different';
}

export interface Sources {
  categories: SourceCategory[];
  products: SourceProduct[];
  reviews: SourceReview[];
}

// Timestamps are compared to the millisecond: events carry ISO strings with millisecond precision.
const ms = (column: string) => `date_trunc('milliseconds', ${column})`;

/**
 * Each view as the sources say it should be (`expected`) and as it is (`actual`), as SQL over the
 * source snapshot loaded into temporary tables. The expected summaries use the same SQL aggregates
 * (and rounding) the projector uses, so a difference is a real one, not a rounding artefact.
 * Denormalised review columns are compared only where the product still exists: what a review of a
 * deleted product shows as its product name is not specified.
 */
const VIEWS: { view: string; expected: string; actual: string }[] = [
  {
    view: 'category_view',
    expected: 'SELECT id, name, description, version FROM src_categories',
    actual: 'SELECT id, name, description, version FROM category_view',
  },
  {
    view: 'review_view',
    expected: `SELECT r.id, r.product_id, r.author, r.rating::smallint, r.title, r.body, ${ms('r.created_at')},
                      ${ms('r.updated_at')}, r.version, p.name, p.category_id
               FROM src_reviews r LEFT JOIN src_products p ON p.id = r.product_id`,
    actual: `SELECT v.id, v.product_id, v.author, v.rating, v.title, v.body, ${ms('v.created_at')},
                    ${ms('v.updated_at')}, v.version,
                    CASE WHEN p.id IS NULL THEN NULL ELSE v.product_name END,
                    CASE WHEN p.id IS NULL THEN NULL ELSE v.category_id END
             FROM review_view v LEFT JOIN src_products p ON p.id = v.product_id`,
  },
  {
    view: 'product_summary',
    expected: `SELECT p.id, p.sku, p.name, p.description, p.category_id, c.name, p.price_amount, p.price_currency,
                      p.attributes, ${ms('p.created_at')}, ${ms('p.updated_at')}, p.version,
                      count(r.id)::int, coalesce(sum(r.rating), 0)::int, round(avg(r.rating), 4),
                      ARRAY[count(*) FILTER (WHERE r.rating = 1), count(*) FILTER (WHERE r.rating = 2),
                            count(*) FILTER (WHERE r.rating = 3), count(*) FILTER (WHERE r.rating = 4),
                            count(*) FILTER (WHERE r.rating = 5)]::int[],
                      ${ms('max(r.created_at)')}
               FROM src_products p
               LEFT JOIN src_categories c ON c.id = p.category_id
               LEFT JOIN src_reviews r ON r.product_id = p.id
               GROUP BY p.id, p.sku, p.name, p.description, p.category_id, c.name, p.price_amount,
                        p.price_currency, p.attributes, p.created_at, p.updated_at, p.version`,
    actual: `SELECT id, sku, name, description, category_id, category_name, price_amount, price_currency,
                    attributes, ${ms('created_at')}, ${ms('updated_at')}, version, review_count, rating_sum,
                    average_rating, rating_histogram, ${ms('last_review_at')}
             FROM product_summary`,
  },
  {
    view: 'category_summary',
    expected: `WITH stats AS (
                 SELECT p.id, p.category_id, p.price_amount, count(r.id) AS review_count,
                        coalesce(sum(r.rating), 0) AS rating_sum
                 FROM src_products p LEFT JOIN src_reviews r ON r.product_id = p.id
                 GROUP BY p.id, p.category_id, p.price_amount)
               SELECT c.id, c.name, count(s.id)::int, min(s.price_amount), max(s.price_amount),
                      round(avg(s.price_amount), 2), coalesce(sum(s.review_count), 0)::int,
                      CASE WHEN sum(s.review_count) > 0
                        THEN round(sum(s.rating_sum)::numeric / sum(s.review_count), 4) END
               FROM src_categories c LEFT JOIN stats s ON s.category_id = c.id
               GROUP BY c.id, c.name`,
    actual: `SELECT category_id AS id, name, product_count, price_min, price_max, price_avg, review_count,
                    average_rating
             FROM category_summary`,
  },
];

const CHUNK = 5_000;

async function load(client: pg.PoolClient, table: string, rows: object[]): Promise<void> {
  for (let start = 0; start < rows.length; start += CHUNK) {
    await client.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1)`, [
      JSON.stringify(rows.slice(start, start + CHUNK)),
    ]);
  }
}

/**
 * Compares every view with what the sources say it should hold, in one read-store snapshot.
 * Runs on the read primary (it needs temporary tables); writes nothing that outlives the session.
 * @returns every differing row, by view and id; empty when the views match their sources.
 */
export async function reconcileViews(readPrimary: pg.Pool, sources: Sources): Promise<ViewDifference[]> {
  const client = await readPrimary.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await client.query(`
      CREATE TEMP TABLE src_categories (id uuid, name text, description text, version bigint) ON COMMIT DROP;
      CREATE TEMP TABLE src_products (id uuid, sku text, name text, description text, category_id uuid,
        price_amount bigint, price_currency text, attributes jsonb, version bigint,
        created_at timestamptz, updated_at timestamptz) ON COMMIT DROP;
      CREATE TEMP TABLE src_reviews (id uuid, product_id uuid, author text, rating int, title text,
        body text, version bigint, created_at timestamptz, updated_at timestamptz) ON COMMIT DROP;`);
    await load(client, 'src_categories', sources.categories);
    await load(client, 'src_products', sources.products);
    await load(client, 'src_reviews', sources.reviews);
    const differences: ViewDifference[] = [];
    for (const { view, expected, actual } of VIEWS) {
      const { rows } = await client.query<{ id: string; side: 'expected' | 'actual' }>(
        `WITH e AS (${expected}), a AS (${actual})
         SELECT (row_to_json(x)->>'id') AS id, 'expected' AS side FROM (SELECT * FROM e EXCEPT SELECT * FROM a) x
         UNION ALL
         SELECT (row_to_json(y)->>'id') AS id, 'actual' AS side FROM (SELECT * FROM a EXCEPT SELECT * FROM e) y`,
      );
      const sides = new Map<string, Set<string>>();
      for (const row of rows) sides.set(row.id, (sides.get(row.id) ?? new Set()).add(row.side));
      for (const [id, seen] of sides) {
        const kind = seen.size === 2 ? 'different' : seen.has('expected') ? 'missing' : 'unexpected';
        differences.push({ view, id, kind });
      }
    }
    await client.query('COMMIT');
    return differences;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
