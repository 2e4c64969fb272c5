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

-- Top-rated products per category: Bayesian (damped) average
--   score = (m·C + Σrating) / (m + n)
-- with prior weight m = p_prior_weight and prior mean C = mean rating of every review in the window
-- (whole catalog, whatever p_category_id says), over products with n >= p_min_reviews reviews in the
-- window; the p_limit best per category (score desc, product id asc).
CREATE OR REPLACE FUNCTION locus_top_rated(
  p_category_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_min_reviews integer,
  p_limit integer,
  p_prior_weight double precision
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
    SELECT r.product_id, r.rating, p.category_id
    FROM review_view r
    JOIN product_summary p ON p.id = r.product_id
    WHERE r.created_at >= p_from AND r.created_at < p_to
  ),
  prior AS (
    SELECT sum(rating)::double precision / count(*) AS mean FROM windowed
  ),
  per_product AS (
    SELECT w.product_id, w.category_id, count(*) AS n, sum(w.rating) AS s
    FROM windowed w
    WHERE w.category_id IS NOT NULL AND (p_category_id IS NULL OR w.category_id = p_category_id)
    GROUP BY w.product_id, w.category_id
    HAVING count(*) >= p_min_reviews
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
CREATE OR REPLACE FUNCTION locus_rating_trend(
  p_product_id uuid,
  p_category_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_bucket text
)
RETURNS TABLE (bucket_start timestamptz, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT date_trunc(p_bucket, r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket_start,
         count(*),
         sum(r.rating)::double precision / count(*)
  FROM review_view r
  JOIN product_summary p ON p.id = r.product_id
  WHERE r.created_at >= p_from AND r.created_at < p_to
    AND (p_product_id IS NULL OR r.product_id = p_product_id)
    AND (p_category_id IS NULL OR p.category_id = p_category_id)
  GROUP BY 1
  ORDER BY 1
$$;

-- Per category (products with a category): product count (all live products), and over the window:
-- review volume, average rating and the distribution of ratings 1..5.
CREATE OR REPLACE FUNCTION locus_category_report(p_category_id uuid, p_from timestamptz, p_to timestamptz)
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
           ARRAY[count(*) FILTER (WHERE r.rating = 1), count(*) FILTER (WHERE r.rating = 2),
                 count(*) FILTER (WHERE r.rating = 3), count(*) FILTER (WHERE r.rating = 4),
                 count(*) FILTER (WHERE r.rating = 5)]::integer[] AS distribution
    FROM review_view r
    JOIN products p ON p.id = r.product_id
    WHERE r.created_at >= p_from AND r.created_at < p_to
    GROUP BY p.category_id
  )
  SELECT pc.category_id, c.name, pc.product_count,
         coalesce(pr.n, 0),
         pr.s::double precision / pr.n,
         coalesce(pr.distribution, '{0,0,0,0,0}'::integer[])
  FROM per_category_products pc
  LEFT JOIN per_category_reviews pr ON pr.category_id = pc.category_id
  LEFT JOIN category_view c ON c.id = pc.category_id
  ORDER BY pc.category_id
$$;

-- Price bands vs rating, per category: band = width_bucket(price_amount, p_edges) (0 below the first
-- edge, i for p_edges[i] <= price < p_edges[i+1]); only bands that hold products.
CREATE OR REPLACE FUNCTION locus_category_price_bands(
  p_category_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_edges bigint[]
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
    WHERE r.created_at >= p_from AND r.created_at < p_to
    GROUP BY r.product_id
  )
  SELECT p.category_id, p.band, count(*),
         coalesce(sum(rs.n), 0)::bigint,
         sum(rs.s)::double precision / sum(rs.n)::double precision
  FROM products p
  LEFT JOIN review_stats rs ON rs.product_id = p.id
  GROUP BY p.category_id, p.band
  ORDER BY p.category_id, p.band
$$;

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
-- which is what the locality benchmark sweeps: the same input, folded into 1 … N rows.
CREATE OR REPLACE FUNCTION locus_rollup(p_groups integer, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket bigint, review_count bigint, average_rating double precision)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT ('x' || right(r.id::text, 8))::bit(32)::bigint % p_groups AS bucket,
         count(*),
         sum(r.rating)::double precision / count(*)
  FROM review_view r
  JOIN product_summary p ON p.id = r.product_id
  WHERE r.created_at >= p_from AND r.created_at < p_to
  GROUP BY 1
  ORDER BY 1
$$;
