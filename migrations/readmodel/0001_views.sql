-- The materialized views of the read store, kept by the projector and read by the query service
-- (on the replica). Every row remembers the aggregate version it reflects (the version guard).
-- No SQL views or BEGIN ATOMIC functions reference these tables: a rebuild swaps them by renaming,
-- and anything bound to a table's OID would keep pointing at the old one.

-- The last applied version of every aggregate, deleted ones included (tombstones), so a late or
-- duplicate event is recognised even after its row is gone. Also the read-your-writes check.
CREATE TABLE applied_versions (
  aggregate_type text        NOT NULL,
  aggregate_id   uuid        NOT NULL,
  version        bigint      NOT NULL,
  deleted        boolean     NOT NULL DEFAULT false,
  event_time     timestamptz NOT NULL,
  applied_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE category_view (
  id          uuid PRIMARY KEY,
  name        text        NOT NULL,
  description text        NOT NULL DEFAULT '',
  version     bigint      NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);

CREATE TABLE product_summary (
  id               uuid PRIMARY KEY,
  sku              text        NOT NULL,
  name             text        NOT NULL,
  description      text        NOT NULL DEFAULT '',
  category_id      uuid,
  category_name    text,
  price_amount     bigint      NOT NULL,
  price_currency   text        NOT NULL,
  attributes       jsonb       NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  version          bigint      NOT NULL,
  review_count     integer     NOT NULL DEFAULT 0,
  rating_sum       integer     NOT NULL DEFAULT 0,
  average_rating   numeric(6, 4),
  -- counts of ratings 1..5, in that order
  rating_histogram integer[]   NOT NULL DEFAULT '{0,0,0,0,0}',
  last_review_at   timestamptz
);
CREATE INDEX product_summary_category_idx ON product_summary (category_id, id);
CREATE INDEX product_summary_rating_idx ON product_summary (average_rating DESC NULLS LAST, id);
CREATE INDEX product_summary_price_idx ON product_summary (price_amount, id);
CREATE INDEX product_summary_newest_idx ON product_summary (created_at DESC, id);

-- One row per live review, denormalised with what list pages and the heavy aggregations need.
-- product_name and category_id are null until the product's first event arrives.
CREATE TABLE review_view (
  id           uuid PRIMARY KEY,
  product_id   uuid        NOT NULL,
  author       text        NOT NULL,
  rating       smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
  title        text        NOT NULL DEFAULT '',
  body         text        NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  version      bigint      NOT NULL,
  product_name text,
  category_id  uuid
);
CREATE INDEX review_view_product_idx ON review_view (product_id, created_at DESC, id);
CREATE INDEX review_view_category_idx ON review_view (category_id, created_at);
CREATE INDEX review_view_created_idx ON review_view (created_at);

CREATE TABLE category_summary (
  category_id    uuid PRIMARY KEY,
  name           text,
  product_count  integer NOT NULL DEFAULT 0,
  price_min      bigint,
  price_max      bigint,
  price_avg      numeric(14, 2),
  review_count   integer NOT NULL DEFAULT 0,
  average_rating numeric(6, 4)
);
