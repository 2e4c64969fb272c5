-- The relay polls the outbox instead of waiting for a NOTIFY (src/relay/idle-backoff.ts): PostgreSQL
-- serialises the commits of notifying transactions behind one lock held through the WAL flush, which
-- capped catalog writes at about a fifth of what the store commits without it.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
