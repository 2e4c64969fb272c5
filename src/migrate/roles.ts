import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { MigrationTarget } from './migrator.js';

/**
 * The login role of one locus process in one store. Its password is the one in the URL the process
 * is given (`urlSetting`), so the URLs are the only place a deployment keeps role passwords.
 */
interface ProcessRole {
  name: string;
  urlSetting: string;
  /** Session defaults stored on the role, `name=value` as pg_roles.rolconfig shows them. */
  settings?: readonly string[];
  /** Predefined roles it needs beyond its grants (see grants/<store>.sql for those). */
  memberOf?: readonly string[];
  /** Whether it may create temporary tables (locus verify compares through them). */
  temporaryTables?: boolean;
}

/**
 * The roles of each store; a cluster gets only the roles of its store, so the catalog role cannot even
 * log in to the read store. What each may do is in `grants/<store>.sql`.
 */
const STORE_ROLES: Readonly<Record<MigrationTarget, readonly ProcessRole[]>> = {
  catalog: [
    { name: 'locus_catalog', urlSetting: 'LOCUS_CATALOG_DB_URL' },
    { name: 'locus_catalog_relay', urlSetting: 'LOCUS_CATALOG_RELAY_DB_URL' },
    { name: 'locus_verify', urlSetting: 'LOCUS_VERIFY_CATALOG_DB_URL', temporaryTables: true },
  ],
  readmodel: [
    { name: 'locus_projector', urlSetting: 'LOCUS_READ_DB_URL' },
    {
      name: 'locus_query',
      urlSetting: 'LOCUS_QUERY_DB_URL',
      settings: ['default_transaction_read_only=on'],
      // Freshness reads pg_stat_wal_receiver on the replica; without it the receiver shows as hidden.
      memberOf: ['pg_read_all_stats'],
    },
    { name: 'locus_verify', urlSetting: 'LOCUS_VERIFY_READ_DB_URL', temporaryTables: true },
  ],
};

/**
 * The role that owns the projector's view tables: a rebuild creates their replacements and swaps
 * them in by renaming, which only an owner may do. The migrating role joins it to manage them.
 */
const VIEW_OWNER_ROLE = 'locus_projector';

/** Role name → password, for the roles whose URL names that role; other roles keep theirs. */
export type RolePasswords = ReadonlyMap<string, string>;

/**
 * The passwords carried by the role URLs in `settings`. A URL for another user (an owner URL handed to
 * every process, as before roles existed) sets no password.
 */
export function rolePasswords(
  target: MigrationTarget,
  settings: Readonly<Record<string, string | undefined>>,
): RolePasswords {
  const passwords = new Map<string, string>();
  for (const role of STORE_ROLES[target]) {
    const url = settings[role.urlSetting];
    if (!url) continue;
    const parsed = new URL(url);
    if (decodeURIComponent(parsed.username) === role.name && parsed.password) {
      passwords.set(role.name, decodeURIComponent(parsed.password));
    }
  }
  return passwords;
}

// The role name and password arrive as bound parameters (set_config), and the DO block quotes them
// with format(): ALTER ROLE takes no parameters. The password is never part of a logged statement.
const ENSURE_ROLE = `DO $$
DECLARE
  role_name text := current_setting('locus.role_name');
  role_password text := current_setting('locus.role_password');
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
    EXECUTE format('CREATE ROLE %I LOGIN', role_name);
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = role_name AND (rolsuper OR rolcreatedb OR rolcreaterole
      OR rolreplication OR rolbypassrls OR NOT rolcanlogin)) THEN
    EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
      role_name);
  END IF;
  IF role_password <> '' THEN
    EXECUTE format('ALTER ROLE %I PASSWORD %L', role_name, role_password);
  END IF;
END $$`;

const SET_ROLE_PARAMETERS =
  "SELECT set_config('locus.role_name', $1, true), set_config('locus.role_password', $2, true)";

// Concurrent migrate runs on one cluster (tests, each with its own database) may update the same
// pg_authid row: the loser gets "tuple concurrently updated" (XX000) or a duplicate role, and retries.
const RACE_CODES = new Set(['XX000', '23505', '42710']);
const ATTEMPTS = 5;

/**
 * Creates the login roles of `target`'s store when missing, takes every superpower from them, and sets
 * the passwords given; gives locus_query its read-only default and the migrating role membership in
 * the view owner. Idempotent; a role that is already right is left untouched.
 * @throws pg errors other than a lost race with a concurrent run, after a few attempts.
 */
export async function ensureRoles(
  client: pg.ClientBase,
  target: MigrationTarget,
  passwords: RolePasswords,
): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.query('BEGIN');
      await ensureRolesOnce(client, target, passwords);
      await client.query('COMMIT');
      return;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      const code = (error as { code?: string }).code ?? '';
      if (attempt >= ATTEMPTS || !RACE_CODES.has(code)) throw error;
      await sleep(20 * attempt * Math.random());
    }
  }
}

async function ensureRolesOnce(client: pg.ClientBase, target: MigrationTarget, passwords: RolePasswords) {
  for (const role of STORE_ROLES[target]) {
    await client.query(SET_ROLE_PARAMETERS, [role.name, passwords.get(role.name) ?? '']);
    await client.query(ENSURE_ROLE);
    const { rows } = await client.query<{ config: string[] | null }>(
      'SELECT rolconfig AS config FROM pg_roles WHERE rolname = $1',
      [role.name],
    );
    for (const setting of role.settings ?? []) {
      if (rows[0]?.config?.includes(setting)) continue;
      const [name, value] = setting.split('=') as [string, string];
      await client.query(`ALTER ROLE ${role.name} SET ${name} = ${value}`);
    }
    for (const group of role.memberOf ?? []) await grantMembership(client, group, role.name);
  }
  if (target === 'readmodel') await grantMembership(client, VIEW_OWNER_ROLE, 'CURRENT_USER');
}

/** Grants `group` to `member` (constants, never input) unless it already is a member. */
async function grantMembership(client: pg.ClientBase, group: string, member: string): Promise<void> {
  const { rows } = await client.query<{ member: boolean }>(
    `SELECT pg_has_role(${member === 'CURRENT_USER' ? 'current_user' : '$2'}, $1, 'MEMBER') AS member`,
    member === 'CURRENT_USER' ? [group] : [group, member],
  );
  if (!rows[0]?.member) await client.query(`GRANT ${group} TO ${member}`);
}

/**
 * Lets only `target`'s process roles (and the owner) connect to the current database, and only those
 * that need them create temporary tables: PostgreSQL grants both to PUBLIC by default. Idempotent.
 */
export async function grantDatabaseAccess(client: pg.ClientBase, target: MigrationTarget): Promise<void> {
  const roles = STORE_ROLES[target];
  const connect = roles.map((role) => role.name).join(', ');
  const temporary = roles.filter((role) => role.temporaryTables).map((role) => role.name);
  // Role names are constants; the database name is quoted by format().
  await client.query(`DO $$
BEGIN
  EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO ${connect}', current_database());
  ${temporary.length ? `EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO ${temporary.join(', ')}', current_database());` : ''}
END $$`);
}
