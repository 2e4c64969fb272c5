import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../src/migrate/migrator.js';

interface ComposeService {
  image?: string;
  ports?: string[];
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
// services.sh writes what each part's script prints: the ports are there.
const servicesScript = ['postgres', 'ferretdb', 'kafka']
  .map((part) => readFileSync(path.join(REPO_ROOT, `scripts/services/${part}.sh`), 'utf8'))
  .join('\n');
const mongoUsers = readFileSync(path.join(REPO_ROOT, 'scripts/compose/mongo-users.js'), 'utf8');

/** host port → service, as published on 127.0.0.1 by compose. */
function publishedPorts(): Map<number, string> {
  const ports = new Map<number, string>();
  for (const [name, service] of Object.entries(compose.services)) {
    for (const mapping of service.ports ?? []) {
      const parts = mapping.split(':');
      expect(parts[0], `${name} publishes on loopback only`).toBe('127.0.0.1');
      ports.set(Number(parts[1]), name);
    }
  }
  return ports;
}

/** The PostgreSQL settings of the locus processes, each naming its own role (src/migrate/roles.ts). */
const POSTGRES_ROLE_URLS = [
  'LOCUS_CATALOG_DB_URL',
  'LOCUS_CATALOG_RELAY_DB_URL',
  'LOCUS_VERIFY_CATALOG_DB_URL',
  'LOCUS_READ_DB_URL',
  'LOCUS_QUERY_DB_URL',
  'LOCUS_READ_REPLICA_URL',
  'LOCUS_VERIFY_READ_DB_URL',
  'LOCUS_VERIFY_REPLICA_URL',
];

describe('docker-compose.yml', () => {
  it('publishes the five stores on the ports of the native stack', () => {
    const ports = publishedPorts();
    expect(ports.get(54320)).toBe('catalog-store');
    expect(ports.get(54321)).toBe('read-primary');
    expect(ports.get(54322)).toBe('read-replica');
    expect(ports.get(27017)).toBe('reviews-store');
    expect(ports.get(9092)).toBe('broker');
  });

  it('uses the real images', () => {
    expect(compose.services['catalog-store']?.image).toMatch(/^postgres:/);
    expect(compose.services['read-replica']?.image).toMatch(/^postgres:/);
    expect(compose.services['reviews-store']?.image).toMatch(/^mongo:/);
    expect(compose.services.broker?.image).toMatch(/^apache\/kafka:/);
  });

  it('agrees with the addresses the native stack writes', () => {
    for (const port of [54320, 54321, 54322, 27017, 9092]) {
      expect(servicesScript, `services.sh writes an address with port ${port}`).toContain(`:-${port}}`);
    }
  });

  it("runs locus's processes from one image on their default ports, and the example against them", () => {
    const ports = publishedPorts();
    const expected: Record<string, number> = {
      query: 8080,
      catalog: 8081,
      reviews: 8082,
      projector: 8083,
      relay: 8084,
    };
    for (const [name, port] of Object.entries(expected)) {
      expect(ports.get(port)).toBe(name);
      expect(compose.services[name]?.command).toEqual([name]);
      expect(compose.services[name]?.image).toBe('locus:dev');
    }
    expect(compose.services.migrate?.command).toEqual(['migrate']);
    expect(compose.services.example?.command).toEqual(['example', '--attach', '--exit']);
  });

  it('points every locus container at compose services, never at the host', () => {
    for (const name of ['migrate', 'catalog', 'reviews', 'relay', 'projector', 'query', 'example']) {
      const env = compose.services[name]?.environment ?? {};
      for (const variable of [...POSTGRES_ROLE_URLS, 'LOCUS_MONGO_URL', 'LOCUS_KAFKA_BROKERS']) {
        const value = env[variable];
        expect(value, `${name} ${variable}`).toBeDefined();
        const host = /^[a-z]+:\/\/(?:[^@/]*@)?([^:/]+)/.exec(value!)?.[1] ?? value!.split(':')[0];
        expect(Object.keys(compose.services), `${name} ${variable} names a compose service`).toContain(host);
      }
    }
  });

  it('runs MongoDB with authorization: root, and a user per process limited to the reviews database', () => {
    const store = compose.services['reviews-store'] ?? {};
    expect(store.environment?.MONGO_INITDB_ROOT_USERNAME).toBe('root');
    for (const variable of [
      'MONGO_INITDB_ROOT_PASSWORD',
      'LOCUS_MONGO_REVIEWS_PASSWORD',
      'LOCUS_MONGO_VERIFY_PASSWORD',
    ]) {
      expect(store.environment?.[variable], `${variable} comes from the environment`).toMatch(
        /^\$\{LOCUS_MONGO_[A-Z_]+_PASSWORD:\?/,
      );
    }
    // A replica set with authorization on needs a key file.
    expect(String(store.command)).toContain('--keyFile');
    expect(store.volumes).toContain(
      './scripts/compose/mongo-users.js:/docker-entrypoint-initdb.d/10-users.js:ro',
    );
    expect(mongoUsers).toMatch(
      /user: 'reviews',\s*pwd: process\.env\.\w+,\s*roles: \[\{ role: 'readWrite', db: 'reviews' \}\]/,
    );
    expect(mongoUsers).toMatch(
      /user: 'verify',\s*pwd: process\.env\.\w+,\s*roles: \[\{ role: 'read', db: 'reviews' \}\]/,
    );
    expect(mongoUsers.match(/createUser/g)).toHaveLength(2);
  });

  it('gives the locus processes the reviews user and locus verify the read-only one', () => {
    for (const name of ['migrate', 'catalog', 'reviews', 'relay', 'projector', 'query', 'example']) {
      const env = compose.services[name]?.environment ?? {};
      const store = /^mongodb:\/\/(\w+):\$\{(\w+):\?[^}]*\}@reviews-store:27017\/reviews\?(.*)$/;
      const [, user, password, query] = store.exec(env.LOCUS_MONGO_URL ?? '') ?? [];
      expect([user, password], `${name} LOCUS_MONGO_URL`).toEqual([
        'reviews',
        'LOCUS_MONGO_REVIEWS_PASSWORD',
      ]);
      expect(new URLSearchParams(query).get('authSource')).toBe('reviews');
      const [, verifyUser, verifyPassword] = store.exec(env.LOCUS_VERIFY_MONGO_URL ?? '') ?? [];
      expect([verifyUser, verifyPassword], `${name} LOCUS_VERIFY_MONGO_URL`).toEqual([
        'verify',
        'LOCUS_MONGO_VERIFY_PASSWORD',
      ]);
    }
  });

  it('gives each process its own PostgreSQL role, with a password from the environment, and the owner only to migrate', () => {
    for (const name of ['catalog', 'relay', 'projector', 'query', 'example']) {
      const env = compose.services[name]?.environment ?? {};
      expect(env.LOCUS_CATALOG_ADMIN_URL, `${name} gets no owner URL`).toBeUndefined();
      expect(env.LOCUS_READ_ADMIN_URL, `${name} gets no owner URL`).toBeUndefined();
    }
    const migrate = compose.services.migrate?.environment ?? {};
    for (const variable of [...POSTGRES_ROLE_URLS, 'LOCUS_CATALOG_ADMIN_URL', 'LOCUS_READ_ADMIN_URL']) {
      const url = new URL(migrate[variable]!.replace(/\$\{[^}]*\}/, 'from-env'));
      expect(url.password, `${variable}'s password is a \${VARIABLE}`).toBe('from-env');
      if (!variable.includes('ADMIN')) expect(url.username, variable).not.toBe('locus');
    }
  });

  it('runs Kafka with SASL on every listener, no fault listener, and nothing allowed without an ACL', () => {
    const env = compose.services.broker?.environment ?? {};
    const protocols = (env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP ?? '').split(',').map((l) => l.split(':')[1]);
    expect(protocols.length).toBeGreaterThan(0);
    expect(new Set(protocols)).toEqual(new Set(['SASL_PLAINTEXT']));
    expect(env.KAFKA_LISTENERS).not.toContain('FAULTS');
    expect(env.KAFKA_SASL_ENABLED_MECHANISMS).toBe('SCRAM-SHA-512');
    expect(env.KAFKA_AUTHORIZER_CLASS_NAME).toBe('org.apache.kafka.metadata.authorizer.StandardAuthorizer');
    expect(env.KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND).toBe('false');
    expect(env.KAFKA_SUPER_USERS).toBe('User:admin;User:broker');
  });

  it('gives each process only its own Kafka login; users are made before migrate grants the ACLs', () => {
    const logins: Record<string, string[]> = {
      relay: ['LOCUS_KAFKA_RELAY_PASSWORD'],
      projector: ['LOCUS_KAFKA_PROJECTOR_PASSWORD'],
      migrate: ['LOCUS_KAFKA_ADMIN_PASSWORD'],
    };
    for (const name of ['migrate', 'catalog', 'reviews', 'relay', 'projector', 'query', 'example']) {
      const env = compose.services[name]?.environment ?? {};
      const passwords = Object.keys(env).filter((v) => /^LOCUS_KAFKA_\w+_PASSWORD$/.test(v));
      expect(passwords, `${name}'s Kafka passwords`).toEqual(logins[name] ?? []);
      for (const variable of passwords) expect(env[variable]).toMatch(/^\$\{LOCUS_KAFKA_[A-Z]+_PASSWORD:\?/);
    }
    expect(String(compose.services['kafka-users']?.command)).toContain('for user in admin relay projector');
    expect(compose.services.migrate?.depends_on?.['kafka-users']?.condition).toBe(
      'service_completed_successfully',
    );
  });
});
