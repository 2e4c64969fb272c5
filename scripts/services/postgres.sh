#!/usr/bin/env bash
# The three PostgreSQL servers of locus: the catalog store, the read store primary, and a hot-standby
# streaming replica of the read store. Usage: postgres.sh install|start|stop|status|reset
source "$(dirname "$0")/lib.sh"

CATALOG_PORT=${LOCUS_CATALOG_PG_PORT:-54320}
READ_PORT=${LOCUS_READ_PG_PORT:-54321}
REPLICA_PORT=${LOCUS_REPLICA_PG_PORT:-54322}
# The owner of the locus databases (`locus migrate`, tests creating databases): no superuser. Each
# locus process logs in as its own role, which `locus migrate` creates and grants (src/migrate/roles.ts);
# replication has a role of its own. Every password is generated at first start and kept in
# $LOCUS_SECRETS/pg-<role> (mode 0600; `secret` in lib.sh), never in the repository.
PG_OWNER=locus
PG_REPLICATOR=locus_replicator

installed() { ls /usr/lib/postgresql/*/bin/pg_basebackup >/dev/null 2>&1 || [[ -n ${LOCUS_PG_BIN:-} ]]; }

install() {
  if installed; then return 0; fi
  [[ $(id -u) == 0 ]] || die "PostgreSQL server binaries are missing; install Debian's 'postgresql' package"
  log "installing PostgreSQL from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # Debian starts its own cluster on 5432; locus runs its own servers, so stop the packaged one.
  pg_ctlcluster --help >/dev/null 2>&1 && for c in $(pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1"/"$2}'); do
    pg_ctlcluster "${c%/*}" "${c#*/}" stop || true
  done
  installed || die "PostgreSQL install failed"
}

# The server refuses to run as root: as root, every server command runs as the postgres user, which
# owns the data where it lives (server_data_root in lib.sh: no home directory is opened to it).
PG_ROOT=${LOCUS_PG_ROOT:-$(server_dir pg)}

# Moves an older installation's data out of LOCUS_HOME while its servers are stopped, then makes
# the data and socket folders the servers' own.
prepare_root() {
  if [[ -z ${LOCUS_PG_ROOT:-} ]]; then
    move_server_dir pg
    PG_ROOT=$(server_dir pg)
    [[ $PG_ROOT == "$LOCUS_STATE/pg" ]] || prepare_server_root
  fi
  mkdir -p "$PG_ROOT/sockets"
  if [[ $(id -u) == 0 ]]; then chown postgres:postgres "$PG_ROOT" "$PG_ROOT/sockets"; fi
  chmod 0700 "$PG_ROOT"
  restrict_locus_home
}

ready() { as_pg "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$1"; }
running() { as_pg "$(pg_bin)/pg_ctl" status -D "$PG_ROOT/$1" >/dev/null 2>&1; }

# Checkpoints by time rather than by WAL volume: with the default max_wal_size of 1 GB the projector's
# sustained load forced a checkpoint every ~35 s, and the first change to each page after a checkpoint
# writes the whole page into the WAL, which the replica then replays too; lz4 compresses those page
# images. Measured on the projector benchmark: 1,442 → 1,168 MB of WAL for the same run. Rewritten at
# every start, and included by postgresql.conf, so servers initialised before it get it as well.
write_tuning() { # data-dir
  local dir=$1
  cat >"$dir/locus-tuning.conf" <<CONF
# written by scripts/services/postgres.sh at every start
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_compression = lz4
CONF
  grep -qx "include_if_exists = 'locus-tuning.conf'" "$dir/postgresql.conf" ||
    echo "include_if_exists = 'locus-tuning.conf'" >>"$dir/postgresql.conf"
  if [[ $(id -u) == 0 ]]; then chown postgres:postgres "$dir/locus-tuning.conf"; fi
}

start_server() { # name port
  local name=$1 port=$2
  if running "$name"; then return 0; fi
  write_tuning "$PG_ROOT/$name"
  # The server inherits the log that we open: postgres needs no way into LOCUS_HOME.
  as_pg "$(pg_bin)/pg_ctl" start -w -t 60 -D "$PG_ROOT/$name" -o "-p $port -k $PG_ROOT/sockets" \
    >>"$LOCUS_LOGS/pg-$name.log" 2>&1 || die "pg-$name failed to start; see $LOCUS_LOGS/pg-$name.log"
  wait_for "pg-$name" 60 ready "$port"
}

init_primary() { # name port database
  local name=$1 port=$2 db=$3 dir="$PG_ROOT/$1"
  [[ -f $dir/PG_VERSION ]] && return 0
  log "initialising pg-$name (port $port)"
  as_pg "$(pg_bin)/initdb" -D "$dir" -U postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust \
    --auth-host=scram-sha-256 >/dev/null
  cat >>"$dir/postgresql.conf" <<CONF
# locus
listen_addresses = '127.0.0.1'
port = $port
max_connections = 200
shared_buffers = 256MB
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
wal_keep_size = 512MB
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 30s
track_io_timing = on
log_min_duration_statement = -1
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  cat >"$dir/pg_hba.conf" <<HBA
local all         all                 trust
host  all         all   127.0.0.1/32  scram-sha-256
host  replication locus_replicator 127.0.0.1/32 scram-sha-256
HBA
  start_server "$name" "$port"
  secure_roles "$port"
  as_pg_sql "$port" <<<"CREATE DATABASE $db OWNER $PG_OWNER"
}

# as_pg_sql PORT: runs the SQL on stdin as the postgres superuser, through the server's unix socket
# (local trust: the socket directory is the postgres user's alone). Secrets go through stdin, never
# through the command line that ps shows.
as_pg_sql() {
  # NOTICEs (a grant that is already there) are not news at every start: warnings and errors only.
  as_pg env PGOPTIONS='-c client_min_messages=warning' "$(pg_bin)/psql" -q -X -h "$PG_ROOT/sockets" \
    -p "$1" -U postgres -d postgres -v ON_ERROR_STOP=1 -f - >/dev/null
}

# secure_roles PORT: the owner role is no superuser and has a generated password; on the read primary,
# the replica streams as a replication-only role. Idempotent, run at every start, so an installation
# from before (owner `locus`, a superuser with password `locus`) is upgraded in place.
secure_roles() {
  local port=$1 replicator=""
  if [[ $port == "$READ_PORT" ]]; then
    replicator="SELECT 'CREATE ROLE $PG_REPLICATOR' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_REPLICATOR') \\gexec
ALTER ROLE $PG_REPLICATOR LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$(secret "pg-$PG_REPLICATOR")';"
  fi
  as_pg_sql "$port" <<SQL
SELECT 'CREATE ROLE $PG_OWNER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_OWNER') \gexec
ALTER ROLE $PG_OWNER LOGIN NOSUPERUSER NOREPLICATION CREATEDB CREATEROLE PASSWORD '$(secret "pg-$PG_OWNER")';
-- DROP DATABASE … WITH (FORCE) ends the sessions of the process roles in it.
GRANT pg_signal_backend TO $PG_OWNER;
$replicator
SQL
}

# The replica's primary_conninfo names the replication role; an installation from before streams as
# `locus`, which secure_roles just took replication from. A reload makes the WAL receiver reconnect.
point_replica() {
  local conninfo="host=127.0.0.1 port=$READ_PORT user=$PG_REPLICATOR password=$(secret "pg-$PG_REPLICATOR") application_name=locus_replica"
  as_pg_sql "$REPLICA_PORT" <<SQL
SELECT format('ALTER SYSTEM SET primary_conninfo = %L', '$conninfo')
  WHERE current_setting('primary_conninfo') IS DISTINCT FROM '$conninfo' \gexec
SELECT pg_reload_conf();
SQL
}

init_replica() {
  local dir="$PG_ROOT/replica"
  [[ -f $dir/PG_VERSION ]] && return 0
  log "initialising pg-replica from pg-read (pg_basebackup, port $REPLICA_PORT)"
  as_pg env PGPASSWORD="$(secret "pg-$PG_REPLICATOR")" "$(pg_bin)/pg_basebackup" -h 127.0.0.1 -p "$READ_PORT" -U "$PG_REPLICATOR" \
    -D "$dir" -R -X stream -c fast -C -S locus_replica >/dev/null ||
    die "pg_basebackup of the read store failed; see $LOCUS_LOGS/pg-read.log"
  # The base backup copies the primary's settings; the replica only changes its port.
  echo "port = $REPLICA_PORT" >>"$dir/postgresql.conf"
}

start() {
  install
  prepare_root
  init_primary catalog "$CATALOG_PORT" catalog
  init_primary read "$READ_PORT" readmodel
  start_server catalog "$CATALOG_PORT"
  start_server read "$READ_PORT"
  secure_roles "$CATALOG_PORT"
  secure_roles "$READ_PORT"
  init_replica
  start_server replica "$REPLICA_PORT"
  point_replica
}

stop() {
  installed || return 0
  local name
  for name in replica read catalog; do
    running "$name" && as_pg "$(pg_bin)/pg_ctl" stop -m fast -w -D "$PG_ROOT/$name" >/dev/null
  done
  return 0
}

status() {
  local rc=0 name port
  for entry in catalog:$CATALOG_PORT read:$READ_PORT replica:$REPLICA_PORT; do
    name=${entry%%:*} port=${entry##*:}
    if installed && running "$name" && ready "$port"; then
      printf '%-14s 127.0.0.1:%-6s up\n' "pg-$name" "$port"
    else
      printf '%-14s 127.0.0.1:%-6s down\n' "pg-$name" "$port"; rc=1
    fi
  done
  return $rc
}

reset() { stop; rm -rf "${PG_ROOT:?}"/{catalog,read,replica}; }

# The env lines of the three servers, for services.sh's env file: one URL per process and store, each
# with its role's password (the URL is how `locus migrate` learns the password to set).
env() {
  local owner catalog relay projector query verify replicator
  owner=$(secret "pg-$PG_OWNER") catalog=$(secret pg-locus_catalog) relay=$(secret pg-locus_catalog_relay)
  projector=$(secret pg-locus_projector) query=$(secret pg-locus_query) verify=$(secret pg-locus_verify)
  replicator=$(secret "pg-$PG_REPLICATOR")
  local at=127.0.0.1
  cat <<ENV
LOCUS_CATALOG_ADMIN_URL=postgres://$PG_OWNER:$owner@$at:$CATALOG_PORT/catalog
LOCUS_CATALOG_DB_URL=postgres://locus_catalog:$catalog@$at:$CATALOG_PORT/catalog
LOCUS_CATALOG_RELAY_DB_URL=postgres://locus_catalog_relay:$relay@$at:$CATALOG_PORT/catalog
LOCUS_VERIFY_CATALOG_DB_URL=postgres://locus_verify:$verify@$at:$CATALOG_PORT/catalog
LOCUS_READ_ADMIN_URL=postgres://$PG_OWNER:$owner@$at:$READ_PORT/readmodel
LOCUS_READ_REPLICATION_URL=postgres://$PG_REPLICATOR:$replicator@$at:$READ_PORT/readmodel
LOCUS_READ_DB_URL=postgres://locus_projector:$projector@$at:$READ_PORT/readmodel
LOCUS_QUERY_DB_URL=postgres://locus_query:$query@$at:$READ_PORT/readmodel
LOCUS_VERIFY_READ_DB_URL=postgres://locus_verify:$verify@$at:$READ_PORT/readmodel
LOCUS_READ_REPLICA_URL=postgres://locus_query:$query@$at:$REPLICA_PORT/readmodel
LOCUS_VERIFY_REPLICA_URL=postgres://locus_verify:$verify@$at:$REPLICA_PORT/readmodel
ENV
}

case "${1:-}" in
  install | start | stop | status | reset | env) "$1" ;;
  *) die "usage: postgres.sh install|start|stop|status|reset|env" ;;
esac
