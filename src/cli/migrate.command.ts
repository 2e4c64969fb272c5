import { loadConfig } from '../shared/config.js';
import { migrateKafka } from '../migrate/kafka.setup.js';
import { migrate } from '../migrate/migrator.js';
import { rolePasswords } from '../migrate/roles.js';
import { createPool } from '../shared/postgres.js';

/**
 * `locus migrate`: the catalog store and the read store primary (the replica follows by WAL), as their
 * owner (LOCUS_*_ADMIN_URL), then the Kafka topics and ACLs (see migrateKafka). Each process role gets
 * the password of the URL that process is given (LOCUS_CATALOG_DB_URL for locus_catalog, …; see
 * src/migrate/roles.ts); a role whose URL is not set keeps its password.
 */
export async function migrateAll(): Promise<void> {
  const config = loadConfig(['LOCUS_CATALOG_ADMIN_URL', 'LOCUS_READ_ADMIN_URL']);
  for (const [target, url] of [
    ['catalog', config.LOCUS_CATALOG_ADMIN_URL],
    ['readmodel', config.LOCUS_READ_ADMIN_URL],
  ] as const) {
    const pool = createPool(url, { applicationName: 'locus-migrate', max: 1 });
    try {
      const result = await migrate(pool, target, rolePasswords(target, process.env));
      console.log(
        `${target}: applied ${result.applied.length} (${result.applied.join(', ') || 'none new'}), ` +
          `${result.skipped} already applied${result.procedures.length ? `, procedures ${result.procedures.join(', ')}` : ''}`,
      );
    } finally {
      await pool.end();
    }
  }
  console.log(await migrateKafka());
}
