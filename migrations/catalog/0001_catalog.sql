-- The catalog store: products and categories, the idempotency keys of POSTs, and the transactional
-- outbox the relay publishes to Kafka. Every write to products/categories inserts its event into
-- `outbox` in the same transaction.

CREATE TABLE categories (
  id          uuid PRIMARY KEY,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  version     bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  CONSTRAINT categories_name_key UNIQUE (name)
);

-- Deletes are hard: the deleted event (carrying categoryId) is the record of the product's end, and a
-- deleted product's SKU may be used again.
CREATE TABLE products (
  id             uuid PRIMARY KEY,
  sku            text NOT NULL,
  name           text NOT NULL,
  description    text NOT NULL DEFAULT '',
  category_id    uuid REFERENCES categories (id),
  price_amount   bigint NOT NULL CHECK (price_amount >= 0),
  price_currency char(3) NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
  attributes     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes) = 'object'),
  version        bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  CONSTRAINT products_sku_key UNIQUE (sku)
);
CREATE INDEX products_category_id ON products (category_id);

-- One row per Idempotency-Key seen on a POST; written in the transaction of the write it guards.
CREATE TABLE idempotency_keys (
  key              text PRIMARY KEY,
  fingerprint      text NOT NULL,
  response_status  integer,
  response_body    jsonb,
  response_headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at       timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- `id` is the publish order. `lane` spreads partition keys over 16 lanes; a relay holds a lane's
-- advisory lock while it publishes that lane, so one key's events are never in two relays' hands.
-- The lane count lives here, not in relay config, so every relay agrees on it.
CREATE TABLE outbox (
  id                bigserial PRIMARY KEY,
  event_id          uuid NOT NULL UNIQUE,
  topic             text NOT NULL,
  partition_key     text NOT NULL,
  lane              integer GENERATED ALWAYS AS ((hashtext(partition_key) & 2147483647) % 16) STORED,
  aggregate_type    text NOT NULL,
  aggregate_id      text NOT NULL,
  aggregate_version bigint NOT NULL,
  envelope          jsonb NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at      timestamptz
);
-- Pending rows by lane (which lanes have work) and by id (the batch, in publish order).
CREATE INDEX outbox_pending_lane ON outbox (lane, id) WHERE published_at IS NULL;
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes a listening relay as soon as an outbox insert commits (NOTIFY is delivered at commit, and
-- repeated notifications of one transaction collapse into one).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('locus_catalog_outbox', '');
  RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
