-- The projector's retention purge deletes resolved dead letters by age (dead-letter.retention.ts);
-- this index finds them without reading the open ones or the payloads.
CREATE INDEX dead_letters_resolved_idx ON dead_letters (consumer, resolved_at)
  WHERE status NOT IN ('parked', 'waiting');
