#!/usr/bin/env bash
# The three PostgreSQL servers of locus: the catalog store, the read store primary, and a hot-standby
# streaming replica of the read store. Usage: postgres.sh install|start|stop|status|reset
source "$(dirname "$0")/lib.sh"

CATALOG_PORT=${LOCUS_CATALOG_PG_PORT:-54320}
READ_PORT=${LOCUS_READ_PG_PORT:-54321}
REPLICA_PORT=${LOCUS_REPLICA_PG_PORT:-54322}
# The account every locus process uses for now; per-process least-privilege roles come later.
PG_USER=locus
PG_PASSWORD=locus

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
# must be able to reach the data (grant_traverse) and own it.
PG_ROOT=${LOCUS_PG_ROOT:-$LOCUS_STATE/pg}

prepare_root() {
  mkdir -p "$PG_ROOT/sockets"
  touch "$LOCUS_LOGS/pg-catalog.log" "$LOCUS_LOGS/pg-read.log" "$LOCUS_LOGS/pg-replica.log"
  if [[ $(id -u) == 0 ]]; then
    chown postgres:postgres "$PG_ROOT" "$PG_ROOT/sockets" "$LOCUS_LOGS"/pg-{catalog,read,replica}.log
    grant_traverse "$PG_ROOT"
    grant_traverse "$LOCUS_LOGS"
  fi
  chmod 0700 "$PG_ROOT"
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
  as_pg "$(pg_bin)/pg_ctl" start -w -t 60 -D "$PG_ROOT/$name" -l "$LOCUS_LOGS/pg-$name.log" \
    -o "-p $port -k $PG_ROOT/sockets" >/dev/null || die "pg-$name failed to start; see $LOCUS_LOGS/pg-$name.log"
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
host  replication all   127.0.0.1/32  scram-sha-256
HBA
  start_server "$name" "$port"
  as_pg "$(pg_bin)/psql" -q -h "$PG_ROOT/sockets" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE $PG_USER LOGIN SUPERUSER REPLICATION PASSWORD '$PG_PASSWORD'" \
    -c "CREATE DATABASE $db OWNER $PG_USER" >/dev/null
}

init_replica() {
  local dir="$PG_ROOT/replica"
  [[ -f $dir/PG_VERSION ]] && return 0
  log "initialising pg-replica from pg-read (pg_basebackup, port $REPLICA_PORT)"
  as_pg env PGPASSWORD="$PG_PASSWORD" "$(pg_bin)/pg_basebackup" -h 127.0.0.1 -p "$READ_PORT" -U "$PG_USER" \
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
  init_replica
  start_server replica "$REPLICA_PORT"
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

# The env lines of the three servers, for services.sh's env file.
env() {
  cat <<ENV
LOCUS_CATALOG_DB_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$CATALOG_PORT/catalog
LOCUS_READ_DB_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$READ_PORT/readmodel
LOCUS_READ_REPLICA_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$REPLICA_PORT/readmodel
ENV
}

case "${1:-}" in
  install | start | stop | status | reset | env) "$1" ;;
  *) die "usage: postgres.sh install|start|stop|status|reset|env" ;;
esac
