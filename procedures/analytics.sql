-- Heavy aggregations of the query service, run only on the read-only replica and called only through
-- src/query/procedures.ts. Idempotent (CREATE OR REPLACE), re-applied by `locus migrate` after the
-- migrations. Bodies are string literals, not BEGIN ATOMIC: a view rebuild swaps tables by renaming, and
-- a string body resolves table names when it runs rather than binding OIDs when it is created.
--
-- Shared rules (src/query/analytics.aggregate.ts computes the same in Node, in the same order):
-- * a review belongs to the product it names; its category is the PRODUCT's category (product_summary),
--   never review_view's denormalised columns; reviews of unknown products are left out;
-- * windows are half-open: created_at >= p_from AND created_at < p_to;
-- * averages are float8 (sum::float8 / count), unrounded; the service rounds every strategy alike.
--
-- Two paths to the same answers. The raw path reads review_view. The rollup path reads the per-day
-- rollups of migration 0006 for the whole UTC days inside the window, and review_view only for the
-- partial days at its edges (locus_product_days, locus_category_days). Each heavy query is one body,
-- `<name>_by(…, p_rollup)`, whose two sources feed the same arithmetic on the same integer counts and
-- sums, so the floats agree to the bit; `<name>` is the raw path, `<name>_rollup` the other. The query
-- service picks one (src/query/analytics.path.ts); the benchmark runs both side by side.

-- The first UTC midnight at or after p, and the last at or before p (±infinity stay as they are).
CREATE OR REPLACE FUNCTION locus_utc_day_ceil(p timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (date_trunc('day', (p AT TIME ZONE 'UTC') - interval '1 microsecond') + interval '1 day') AT TIME ZONE 'UTC' $$;

CREATE OR REPLACE FUNCTION locus_utc_day_floor(p timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT date_trunc('day', p AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

-- Per product (of review_view, known or not) and UTC day, the reviews in [p_from, p_to): the whole days
-- [ceil(p_from), floor(p_to)) from product_day_rollup, the partial days from review_view. p_product_id
-- null: every product.
CREATE OR REPLACE FUNCTION locus_product_days(p_product_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
  product_id uuid, day date, review_count integer, rating_sum integer,
  rating_1 integer, rating_2 integer, rating_3 integer, rating_4 integer, rating_5 integer
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT r.product_id, r.day, r.review_count, r.rating_sum, r.rating_1, r.rating_2, r.rating_3, r.rating_4,
         r.rating_5
  FROM product_day_rollup r
  WHERE r.day >= (locus_utc_day_ceil(p_from) AT TIME ZONE 'UTC')::date
    AND r.day < (locus_utc_day_floor(p_to) AT TIME ZONE 'UTC')::date
    AND (p_product_id IS NULL OR r.product_id = p_product_id)
  UNION ALL
  SELECT v.product_id, (v.created_at AT TIME ZONE 'UTC')::date, count(*)::int, sum(v.rating)::int,
         (count(*) FILTER (WHERE v.rating = 1))::int, (count(*) FILTER (WHERE v.rating = 2))::int,
         (count(*) FILTER (WHERE v.rating = 3))::int, (count(*) FILTER (WHERE v.rating = 4))::int,
         (count(*) FILTER (WHERE v.rating = 5))::int
  FROM review_view v
  WHERE ((v.created_at >= p_from AND v.created_at < least(locus_utc_day_ceil(p_from), p_to))
      OR (v.created_at >= greatest(locus_utc_day_floor(p_to), locus_utc_day_ceil(p_from)) AND v.created_at < p_to))
    AND (p_product_id IS NULL OR v.product_id = p_product_id)
  GROUP BY 1, 2
$$;

-- Per category of the product (null: known products without one; reviews of unknown products are
-- left out) and UTC day, the reviews in [p_from, p_to), the window split as in locus_product_days.
-- p_category_id null: every row, the null category included.
CREATE OR REPLACE FUNCTION locus_category_days(p_category_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
  category_id uuid, day date, review_count integer, rating_sum integer,
  rating_1 integer, rating_2 integer, rating_3 integer, rating_4 integer, rating_5 integer
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT r.category_id, r.day, r.review_count, r.rating_sum, r.rating_1, r.rating_2, r.rating_3, r.rating_4,
         r.rating_5
  FROM category_day_rollup r
  WHERE r.day >= (locus_utc_day_ceil(p_from) AT TIME ZONE 'UTC')::date
    AND r.day < (locus_utc_day_floor(p_to) AT TIME ZONE 'UTC')::date
    AND (p_category_id IS NULL OR r.category_id = p_category_id)
  UNION ALL
  SELECT p.category_id, (v.created_at AT TIME ZONE 'UTC')::date, count(*)::int, sum(v.rating)::int,
         (count(*) FILTER (WHERE v.rating = 1))::int, (count(*) FILTER (WHERE v.rating = 2))::int,
         (count(*) FILTER (WHERE v.rating = 3))::int, (count(*) FILTER (WHERE v.rating = 4))::int,
         (count(*) FILTER (WHERE v.rating = 5))::int
  FROM review_view v
  JOIN product_summary p ON p.id = v.product_id
  WHERE ((v.created_at >= p_from AND v.created_at < least(locus_utc_day_ceil(p_from), p_to))
      OR (v.created_at >= greatest(locus_utc_day_floor(p_to), locus_utc_day_ceil(p_from)) AND v.created_at < p_to))
    AND (p_category_id IS NULL OR p.category_id = p_category_id)
  GROUP BY 1, 2
$$;

-- Top-rated products per category: Bayesian (damped) average
--   score = (m·C + Σrating) / (m + n)
-- with prior weight m = p_prior_weight and prior mean C = mean rating of every review in the window
-- (whole catalog, whatever p_category_id says), over products with n >= p_min_reviews reviews in the
-- window; the p_limit best per category (score desc, product id asc).
CREATE OR REPLACE FUNCTION locus_top_rated_by(
  p_category_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_min_reviews integer,
  p_limit integer,
  p_prior_weight double precision,
  p_rollup boolean
)
RETURNS TABLE (
  category_id uuid,
  category_name text,
  product_id uuid,
  product_name text,
  review_count bigint,
  average_rating double precision,
  score double precision,
  rank bigint
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH windowed AS (
    SELECT r.product_id, p.category_id, count(*) AS n, sum(r.rating) AS s
    FROM review_view r
    JOIN product_summary p ON p.id = r.product_id
    WHERE NOT p_rollup AND r.created_at >= p_from AND r.created_at < p_to
    GROUP BY r.product_id, p.category_id
    UNION ALL
    SELECT d.product_id, p.category_id, sum(d.review_count), sum(d.rating_sum)
    FROM locus_product_days(NULL, p_from, p_to) d
    JOIN product_summary p ON p.id = d.product_id
    WHERE p_rollup
    GROUP BY d.product_id, p.category_id
  ),
  prior AS (
    SELECT sum(s)::double precision / sum(n)::double precision AS mean FROM windowed
  ),
  per_product AS (
    SELECT w.product_id, w.category_id, w.n, w.s
    FROM windowed w
    WHERE w.category_id IS NOT NULL AND (p_category_id IS NULL OR w.category_id = p_category_id)
      AND w.n >= p_min_reviews
  ),
  scored AS (
    SELECT pp.product_id, pp.category_id, pp.n,
           pp.s::double precision / pp.n AS average_rating,
           (p_prior_weight * prior.mean + pp.s::double precision) / (p_prior_weight + pp.n::double precision) AS score
    FROM per_product pp CROSS JOIN prior
  ),
  ranked AS (
    SELECT s.*, row_number() OVER (PARTITION BY s.category_id ORDER BY s.score DESC, s.product_id) AS rk
    FROM scored s
  )
  SELECT r.category_id, c.name, r.product_id, p.name, r.n, r.average_rating, r.score, r.rk
  FROM ranked r
  JOIN product_summary p ON p.id = r.product_id
  LEFT JOIN category_view c ON c.id = r.category_id
  WHERE r.rk <= p_limit
  ORDER BY r.category_id, r.rk
$$;

-- Rating trend of one product, one category, or the whole catalog (both null), per UTC day, ISO week
-- (Monday) or month; only buckets that have reviews.
CREATE OR REPLACE FUNCTION locus_rating_trend_by(
  p_product_id uuid,
  p_category_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_bucket text,
  p_rollup boolean
)
RETURNS TABLE (bucket_start timestamptz, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH counted AS (
    SELECT r.created_at AT TIME ZONE 'UTC' AS at, 1 AS n, r.rating::int AS s
    FROM review_view r
    JOIN product_summary p ON p.id = r.product_id
    WHERE NOT p_rollup AND r.created_at >= p_from AND r.created_at < p_to
      AND (p_product_id IS NULL OR r.product_id = p_product_id)
      AND (p_category_id IS NULL OR p.category_id = p_category_id)
    UNION ALL
    SELECT d.day::timestamp, d.review_count, d.rating_sum
    FROM locus_product_days(p_product_id, p_from, p_to) d
    JOIN product_summary p ON p.id = d.product_id
    WHERE p_rollup AND p_product_id IS NOT NULL AND (p_category_id IS NULL OR p.category_id = p_category_id)
    UNION ALL
    SELECT d.day::timestamp, d.review_count, d.rating_sum
    FROM locus_category_days(p_category_id, p_from, p_to) d
    WHERE p_rollup AND p_product_id IS NULL
  )
  SELECT date_trunc(p_bucket, c.at) AT TIME ZONE 'UTC' AS bucket_start,
         sum(c.n),
         sum(c.s)::double precision / sum(c.n)::double precision
  FROM counted c
  GROUP BY 1
  ORDER BY 1
$$;

-- Per category (products with a category): product count (all live products), and over the window:
-- review volume, average rating and the distribution of ratings 1..5.
CREATE OR REPLACE FUNCTION locus_category_report_by(
  p_category_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_rollup boolean
)
RETURNS TABLE (
  category_id uuid,
  category_name text,
  product_count bigint,
  review_count bigint,
  average_rating double precision,
  rating_distribution integer[]
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH products AS (
    SELECT p.id, p.category_id
    FROM product_summary p
    WHERE p.category_id IS NOT NULL AND (p_category_id IS NULL OR p.category_id = p_category_id)
  ),
  per_category_products AS (
    SELECT category_id, count(*) AS product_count FROM products GROUP BY category_id
  ),
  per_category_reviews AS (
    SELECT p.category_id, count(*) AS n, sum(r.rating) AS s,
           count(*) FILTER (WHERE r.rating = 1) AS r1, count(*) FILTER (WHERE r.rating = 2) AS r2,
           count(*) FILTER (WHERE r.rating = 3) AS r3, count(*) FILTER (WHERE r.rating = 4) AS r4,
           count(*) FILTER (WHERE r.rating = 5) AS r5
    FROM review_view r
    JOIN products p ON p.id = r.product_id
    WHERE NOT p_rollup AND r.created_at >= p_from AND r.created_at < p_to
    GROUP BY p.category_id
    UNION ALL
    SELECT d.category_id, sum(d.review_count), sum(d.rating_sum), sum(d.rating_1), sum(d.rating_2),
           sum(d.rating_3), sum(d.rating_4), sum(d.rating_5)
    FROM locus_category_days(p_category_id, p_from, p_to) d
    WHERE p_rollup AND d.category_id IS NOT NULL
    GROUP BY d.category_id
  )
  SELECT pc.category_id, c.name, pc.product_count,
         coalesce(pr.n, 0),
         pr.s::double precision / pr.n,
         CASE WHEN pr.n IS NULL THEN '{0,0,0,0,0}'::integer[]
              ELSE ARRAY[pr.r1, pr.r2, pr.r3, pr.r4, pr.r5]::integer[] END
  FROM per_category_products pc
  LEFT JOIN per_category_reviews pr ON pr.category_id = pc.category_id
  LEFT JOIN category_view c ON c.id = pc.category_id
  ORDER BY pc.category_id
$$;

-- Price bands vs rating, per category: band = width_bucket(price_amount, p_edges) (0 below the first
-- edge, i for p_edges[i] <= price < p_edges[i+1]); only bands that hold products.
CREATE OR REPLACE FUNCTION locus_category_price_bands_by(
  p_category_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_edges bigint[],
  p_rollup boolean
)
RETURNS TABLE (
  category_id uuid,
  band integer,
  product_count bigint,
  review_count bigint,
  average_rating double precision
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  WITH products AS (
    SELECT p.id, p.category_id, width_bucket(p.price_amount, p_edges) AS band
    FROM product_summary p
    WHERE p.category_id IS NOT NULL AND (p_category_id IS NULL OR p.category_id = p_category_id)
  ),
  review_stats AS (
    SELECT r.product_id, count(*) AS n, sum(r.rating) AS s
    FROM review_view r
    JOIN products p ON p.id = r.product_id
    WHERE NOT p_rollup AND r.created_at >= p_from AND r.created_at < p_to
    GROUP BY r.product_id
    UNION ALL
    SELECT d.product_id, sum(d.review_count), sum(d.rating_sum)
    FROM locus_product_days(NULL, p_from, p_to) d
    JOIN products p ON p.id = d.product_id
    WHERE p_rollup
    GROUP BY d.product_id
  )
  SELECT p.category_id, p.band, count(*),
         coalesce(sum(rs.n), 0)::bigint,
         sum(rs.s)::double precision / sum(rs.n)::double precision
  FROM products p
  LEFT JOIN review_stats rs ON rs.product_id = p.id
  GROUP BY p.category_id, p.band
  ORDER BY p.category_id, p.band
$$;

-- The two paths of each heavy query under fixed names: `<name>` raw, `<name>_rollup` from the rollups.
CREATE OR REPLACE FUNCTION locus_top_rated(p_category_id uuid, p_from timestamptz, p_to timestamptz, p_min_reviews integer, p_limit integer, p_prior_weight double precision)
RETURNS TABLE (category_id uuid, category_name text, product_id uuid, product_name text, review_count bigint,
  average_rating double precision, score double precision, rank bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_top_rated_by(p_category_id, p_from, p_to, p_min_reviews, p_limit, p_prior_weight, false) $$;

CREATE OR REPLACE FUNCTION locus_top_rated_rollup(p_category_id uuid, p_from timestamptz, p_to timestamptz, p_min_reviews integer, p_limit integer, p_prior_weight double precision)
RETURNS TABLE (category_id uuid, category_name text, product_id uuid, product_name text, review_count bigint,
  average_rating double precision, score double precision, rank bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_top_rated_by(p_category_id, p_from, p_to, p_min_reviews, p_limit, p_prior_weight, true) $$;

CREATE OR REPLACE FUNCTION locus_rating_trend(p_product_id uuid, p_category_id uuid, p_from timestamptz, p_to timestamptz, p_bucket text)
RETURNS TABLE (bucket_start timestamptz, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_rating_trend_by(p_product_id, p_category_id, p_from, p_to, p_bucket, false) $$;

CREATE OR REPLACE FUNCTION locus_rating_trend_rollup(p_product_id uuid, p_category_id uuid, p_from timestamptz, p_to timestamptz, p_bucket text)
RETURNS TABLE (bucket_start timestamptz, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_rating_trend_by(p_product_id, p_category_id, p_from, p_to, p_bucket, true) $$;

CREATE OR REPLACE FUNCTION locus_category_report(p_category_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (category_id uuid, category_name text, product_count bigint, review_count bigint,
  average_rating double precision, rating_distribution integer[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_category_report_by(p_category_id, p_from, p_to, false) $$;

CREATE OR REPLACE FUNCTION locus_category_report_rollup(p_category_id uuid, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (category_id uuid, category_name text, product_count bigint, review_count bigint,
  average_rating double precision, rating_distribution integer[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_category_report_by(p_category_id, p_from, p_to, true) $$;

CREATE OR REPLACE FUNCTION locus_category_price_bands(p_category_id uuid, p_from timestamptz, p_to timestamptz, p_edges bigint[])
RETURNS TABLE (category_id uuid, band integer, product_count bigint, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_category_price_bands_by(p_category_id, p_from, p_to, p_edges, false) $$;

CREATE OR REPLACE FUNCTION locus_category_price_bands_rollup(p_category_id uuid, p_from timestamptz, p_to timestamptz, p_edges bigint[])
RETURNS TABLE (category_id uuid, band integer, product_count bigint, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT * FROM locus_category_price_bands_by(p_category_id, p_from, p_to, p_edges, true) $$;

-- Every review in the window with its product's fields, by review id. The negative control of
-- locality: the result is as large as the input. A single-SELECT SQL function is inlined by the
-- planner, so a cursor over it streams instead of materialising.
CREATE OR REPLACE FUNCTION locus_review_export(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
  review_id uuid,
  product_id uuid,
  author text,
  rating smallint,
  title text,
  body text,
  created_at timestamptz,
  product_name text,
  sku text,
  category_id uuid,
  price_amount bigint,
  price_currency text
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT r.id, r.product_id, r.author, r.rating, r.title, r.body, r.created_at,
         p.name, p.sku, p.category_id, p.price_amount, p.price_currency
  FROM review_view r
  JOIN product_summary p ON p.id = r.product_id
  WHERE r.created_at >= p_from AND r.created_at < p_to
  ORDER BY r.id
$$;

-- Reviews in the window folded into p_groups buckets by a deterministic hash of the review id: the
-- bucket is the id's last 8 hex digits (the random bits of a v4 or v7 uuid) as an unsigned 32-bit
-- number, modulo p_groups — in Node `parseInt(id.slice(-8), 16) % groups`. Per non-empty bucket: its
-- number, review count and average rating. The result size is min(p_groups, reviews in the window),
-- which is what the locality benchmark sweeps: the same input, folded into 1 … N rows. The last four
-- bytes are read from the uuid's binary form rather than its text: formatting every id as text and
-- parsing it back cost more than the rest of the scan.
CREATE OR REPLACE FUNCTION locus_rollup(p_groups integer, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket bigint, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT ((get_byte(r.id_bytes, 12)::bigint << 24) | (get_byte(r.id_bytes, 13) << 16)
          | (get_byte(r.id_bytes, 14) << 8) | get_byte(r.id_bytes, 15)) % p_groups AS bucket,
         count(*),
         sum(r.rating)::double precision / count(*)
  FROM (
    SELECT uuid_send(v.id) AS id_bytes, v.rating
    FROM review_view v
    JOIN product_summary p ON p.id = v.product_id
    WHERE v.created_at >= p_from AND v.created_at < p_to
  ) r
  GROUP BY 1
  ORDER BY 1
$$;
