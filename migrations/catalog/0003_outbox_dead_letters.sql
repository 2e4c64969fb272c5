-- Relay dead letters: an outbox row the relay can never publish (too large for the broker even
-- alone) is parked in place, unpublished, with why. The later rows of its partition key wait behind
-- it (per-key order) until an operator retries it (parked_at cleared) or skips it (published_at and
-- skipped_at set, so it is never sent and the retention purge removes it). src/relay/postgres-dead-letters.ts
ALTER TABLE outbox
  ADD COLUMN parked_at   timestamptz,
  ADD COLUMN park_reason text,
  ADD COLUMN skipped_at  timestamptz;
-- The parked rows (usually none): which keys wait, and the operators' list.
CREATE INDEX outbox_parked ON outbox (partition_key, id) WHERE parked_at IS NOT NULL AND published_at IS NULL;
