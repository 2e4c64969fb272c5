-- Pre-aggregated rollups of review_view per UTC day, kept by the projector in the same transaction as
-- the views (src/projector/views/rollups.view.ts) and read by the heavy procedures where a window
-- covers whole days (procedures/analytics.sql): they read one row per product or category and day
-- instead of one per review. Counts of ratings 1..5 are columns so that a delta adds to each in place.

-- Every review in review_view, by the product it names (whether or not product_summary knows it; the
-- procedures join product_summary as the raw path does) and the UTC day of its created_at. A key
-- whose count falls to zero is deleted, so every row counts at least one review.
CREATE TABLE product_day_rollup (
  product_id   uuid    NOT NULL,
  day          date    NOT NULL,
  review_count integer NOT NULL CHECK (review_count > 0),
  rating_sum   integer NOT NULL,
  rating_1     integer NOT NULL CHECK (rating_1 >= 0),
  rating_2     integer NOT NULL CHECK (rating_2 >= 0),
  rating_3     integer NOT NULL CHECK (rating_3 >= 0),
  rating_4     integer NOT NULL CHECK (rating_4 >= 0),
  rating_5     integer NOT NULL CHECK (rating_5 >= 0),
  PRIMARY KEY (product_id, day)
);
CREATE INDEX product_day_rollup_day_idx ON product_day_rollup (day, product_id);

-- The same per category of the product (product_summary.category_id, as the raw path joins it) and
-- day: the sum of product_day_rollup over the products product_summary holds in that category.
-- category_id NULL holds the reviews of known products without a category, so the whole catalog is
-- the sum over every row.
CREATE TABLE category_day_rollup (
  category_id  uuid,
  day          date    NOT NULL,
  review_count integer NOT NULL CHECK (review_count > 0),
  rating_sum   integer NOT NULL,
  rating_1     integer NOT NULL CHECK (rating_1 >= 0),
  rating_2     integer NOT NULL CHECK (rating_2 >= 0),
  rating_3     integer NOT NULL CHECK (rating_3 >= 0),
  rating_4     integer NOT NULL CHECK (rating_4 >= 0),
  rating_5     integer NOT NULL CHECK (rating_5 >= 0)
);
CREATE UNIQUE INDEX category_day_rollup_key ON category_day_rollup (day, category_id) NULLS NOT DISTINCT;
CREATE INDEX category_day_rollup_category_idx ON category_day_rollup (category_id, day);

-- A store migrated with views already in it starts with rollups that match them.
INSERT INTO product_day_rollup
SELECT product_id, (created_at AT TIME ZONE 'UTC')::date, count(*), sum(rating),
       count(*) FILTER (WHERE rating = 1), count(*) FILTER (WHERE rating = 2),
       count(*) FILTER (WHERE rating = 3), count(*) FILTER (WHERE rating = 4),
       count(*) FILTER (WHERE rating = 5)
FROM review_view
GROUP BY 1, 2;

INSERT INTO category_day_rollup
SELECT p.category_id, r.day, sum(r.review_count), sum(r.rating_sum), sum(r.rating_1), sum(r.rating_2),
       sum(r.rating_3), sum(r.rating_4), sum(r.rating_5)
FROM product_day_rollup r
JOIN product_summary p ON p.id = r.product_id
GROUP BY 1, 2;
