-- Who may do what in the read store. Re-applied by `locus migrate` (src/migrate/migrator.ts) after
-- every run and after procedures/*.sql, as the owner, in every database it migrates: idempotent. The
-- roles are created by src/migrate/roles.ts, which also makes the migrating role a member of
-- locus_projector (so it may hand the view tables over and set that role's default privileges).

-- Who may connect at all (only these roles) is granted by grantDatabaseAccess in src/migrate/roles.ts.

-- The projector owns every table of the read store but schema_migrations: the views, which a rebuild
-- (src/projector/rebuild.ts) recreates as __next copies and swaps in with ALTER TABLE … RENAME (only an
-- owner may), and its positions, commits and dead letters. Tables a rebuild left behind (__next,
-- __old) are handed over too, so it can drop them. New view tables need no line here.
GRANT CREATE ON SCHEMA public TO locus_projector;
DO $$
DECLARE
  projector_table text;
BEGIN
  FOR projector_table IN
    SELECT tablename FROM pg_tables
    WHERE schemaname = 'public' AND tableowner <> 'locus_projector' AND tablename <> 'schema_migrations'
  LOOP
    EXECUTE format('ALTER TABLE %I OWNER TO locus_projector', projector_table);
  END LOOP;
END $$;

-- The query service reads the views and the projector's commits (freshness), and runs the procedures;
-- its sessions are read-only (src/migrate/roles.ts). Tables a rebuild swaps in get the same grant.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO locus_query;
REVOKE ALL ON schema_migrations, projector_positions, dead_letters FROM locus_query;
ALTER DEFAULT PRIVILEGES FOR ROLE locus_projector IN SCHEMA public
  GRANT SELECT ON TABLES TO locus_query, locus_verify;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO locus_query, locus_verify;

-- locus verify: reads everything, writes nothing.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO locus_verify;
