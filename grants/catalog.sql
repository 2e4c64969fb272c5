-- Who may do what in the catalog store. Re-applied by `locus migrate` (src/migrate/migrator.ts) after
-- every run, as the owner, in every database it migrates: idempotent GRANTs only. The roles are
-- created by src/migrate/roles.ts; the owner role (`locus`) keeps everything else.

-- Who may connect at all (only these roles) is granted by grantDatabaseAccess in src/migrate/roles.ts.

-- The catalog service: its tables, and appending to its outbox (INSERT only: publishing is the relay's).
GRANT SELECT, INSERT, UPDATE, DELETE ON categories, products, idempotency_keys TO locus_catalog;
GRANT INSERT ON outbox TO locus_catalog;
GRANT USAGE ON SEQUENCE outbox_id_seq TO locus_catalog;

-- The relay: reads the outbox, marks events published or parked, deletes them after retention.
GRANT SELECT, UPDATE, DELETE ON outbox TO locus_catalog_relay;

-- locus verify: reads everything, writes nothing.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO locus_verify;
