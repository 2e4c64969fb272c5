-- The projector's bookkeeping, beside the views it keeps so that both commit in one transaction.

-- Where each consumer resumes, per partition: the next offset to read. Written in the same
-- transaction as the view changes of a batch (effectively-once), always with GREATEST so a stale
-- re-delivery never moves a position back. Kafka's committed offsets are never used.
CREATE TABLE projector_positions (
  consumer    text        NOT NULL,
  topic       text        NOT NULL,
  partition   integer     NOT NULL,
  next_offset bigint      NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, topic, partition)
);

-- Events the projector could not apply. 'parked' is the head of its (topic, key): later events with
-- the same key are 'waiting' behind it until an operator retries or skips the head.
CREATE TABLE dead_letters (
  id             bigserial   PRIMARY KEY,
  consumer       text        NOT NULL,
  status         text        NOT NULL CHECK (status IN ('parked', 'waiting', 'retried', 'skipped')),
  reason         text        NOT NULL,
  error_code     text        NOT NULL,
  topic          text        NOT NULL,
  partition      integer     NOT NULL,
  kafka_offset   bigint      NOT NULL,
  message_key    text,
  value          bytea,
  headers        jsonb       NOT NULL DEFAULT '{}',
  event_type     text,
  attempts       integer     NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  resolved_at    timestamptz,
  UNIQUE (consumer, topic, partition, kafka_offset)
);
CREATE INDEX dead_letters_open_idx ON dead_letters (consumer, topic, message_key, partition, kafka_offset)
  WHERE status IN ('parked', 'waiting');

-- The read store's WAL position right after each committed batch, one row per consumer: the query
-- service compares it with the replica's pg_last_wal_replay_lsn() to know what the replica has.
CREATE TABLE projector_commits (
  consumer     text        PRIMARY KEY,
  commit_lsn   pg_lsn      NOT NULL,
  committed_at timestamptz NOT NULL,
  batch_events integer     NOT NULL
);
