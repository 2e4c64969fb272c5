import { KafkaContainer } from '@testcontainers/kafka';
import { MongoDBContainer } from '@testcontainers/mongodb';
import { GenericContainer, Network, Wait, type StartedTestContainer } from 'testcontainers';
import type { ServiceAddresses } from './services.js';

const POSTGRES_IMAGE = 'postgres:15';
const USER = 'locus';
const PASSWORD = 'locus';

// The official image allows remote logins but not remote replication; the replica needs both.
const ALLOW_REPLICATION = `#!/bin/sh
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
`;

function postgres(database: string, alias: string) {
  return new GenericContainer(POSTGRES_IMAGE)
    .withNetworkAliases(alias)
    .withEnvironment({ POSTGRES_USER: USER, POSTGRES_PASSWORD: PASSWORD, POSTGRES_DB: database })
    .withCommand([
      'postgres',
      ...['-c', 'wal_level=replica', '-c', 'max_wal_senders=5', '-c', 'hot_standby=on'],
      ...[
        '-c',
        'hot_standby_feedback=on',
        '-c',
        'max_standby_streaming_delay=30s',
        '-c',
        'max_connections=200',
      ],
    ])
    .withCopyContentToContainer([
      { content: ALLOW_REPLICATION, target: '/docker-entrypoint-initdb.d/10-replication.sh', mode: 0o755 },
    ])
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2));
}

function replicaOf(primaryAlias: string) {
  const data = '/var/lib/postgresql/data/replica';
  return new GenericContainer(POSTGRES_IMAGE)
    .withUser('postgres')
    .withEnvironment({ PGPASSWORD: PASSWORD })
    .withEntrypoint(['bash', '-c'])
    .withCommand([
      `until pg_basebackup -h ${primaryAlias} -U ${USER} -D ${data} -R -X stream -c fast; do rm -rf ${data}; sleep 1; done; ` +
        `chmod 700 ${data}; exec postgres -D ${data} -c hot_standby=on -c hot_standby_feedback=on`,
    ])
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept read.only connections/));
}

const url = (c: StartedTestContainer, db: string) =>
  `postgres://${USER}:${PASSWORD}@${c.getHost()}:${c.getMappedPort(5432)}/${db}`;

/** Starts the same five services as the native stack, in containers, for a test run with Docker. */
export async function startContainers(): Promise<{ addresses: ServiceAddresses; stop: () => Promise<void> }> {
  const network = await new Network().start();
  const [catalog, readPrimary, mongo, kafka] = await Promise.all([
    postgres('catalog', 'catalog-store').withNetwork(network).start(),
    postgres('readmodel', 'read-primary').withNetwork(network).start(),
    new MongoDBContainer('mongo:7').start(),
    new KafkaContainer('confluentinc/cp-kafka:7.7.1').withKraft().withExposedPorts(9093).start(),
  ]);
  const replica = await replicaOf('read-primary').withNetwork(network).start();
  const addresses: ServiceAddresses = {
    // One superuser per container: the owner, and (no role URLs given) every process's login too.
    LOCUS_CATALOG_ADMIN_URL: url(catalog, 'catalog'),
    LOCUS_CATALOG_DB_URL: url(catalog, 'catalog'),
    LOCUS_READ_ADMIN_URL: url(readPrimary, 'readmodel'),
    LOCUS_READ_DB_URL: url(readPrimary, 'readmodel'),
    LOCUS_READ_REPLICA_URL: url(replica, 'readmodel'),
    LOCUS_MONGO_URL: `${mongo.getConnectionString()}/reviews?directConnection=true`,
    LOCUS_KAFKA_BROKERS: `${kafka.getHost()}:${kafka.getMappedPort(9093)}`,
  };
  return {
    addresses,
    async stop() {
      await Promise.all([replica, catalog, readPrimary, mongo, kafka].map((c) => c.stop()));
      await network.stop();
    },
  };
}
