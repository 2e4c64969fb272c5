#!/usr/bin/env bash
# FerretDB v1 (MongoDB wire protocol on PostgreSQL), run natively: the reviews store.
#
#   bash scripts/services/ferretdb.sh install   build the wrapper in scripts/services/ferretdb/ (once)
#   bash scripts/services/ferretdb.sh start     its own PostgreSQL cluster, then FerretDB; idempotent
#   bash scripts/services/ferretdb.sh stop      FerretDB, then its PostgreSQL cluster
#   bash scripts/services/ferretdb.sh status    one line; exit 0 when FerretDB answers a MongoDB ping
#   bash scripts/services/ferretdb.sh reset     stop, then delete its data
#
# Ports: LOCUS_MONGO_PORT (27017) for MongoDB clients, LOCUS_FERRETDB_PG_PORT (54323) for the
# dedicated PostgreSQL, which listens on 127.0.0.1 only.
#
# Authentication: FerretDB v1 passes each client's PLAIN credentials through to its PostgreSQL, and
# is started with a PostgreSQL URL naming no user, so an anonymous client reaches nothing. The one
# login role, locus_reviews (password generated into $LOCUS_SECRETS), may only create schemas in
# the ferretdb database: each MongoDB database is a schema it then owns. Over TCP only that role is
# accepted (scram-sha-256); the superuser postgres only over the unix socket in its 0700 data dir.
# The binary is built from the committed go.mod/go.sum with the Go module proxy only: the upstream
# cmd/ferretdb panics without build/version/version.txt (absent from the module zip), while the
# embeddable package used by the wrapper does not need it.
source "$(dirname "$0")/lib.sh"

FERRETDB_VERSION=v1.24.2
WRAPPER_DIR="$(cd "$(dirname "$0")/ferretdb" && pwd)"
FERRETDB_HOME="$LOCUS_CACHE/ferretdb-$FERRETDB_VERSION"
FERRETDB_BIN="$FERRETDB_HOME/ferretdb"
FERRETDB_STAMP="$FERRETDB_HOME/.built"

MONGO_PORT="${LOCUS_MONGO_PORT:-27017}"
MONGO_ADDR="127.0.0.1:$MONGO_PORT"
PG_PORT="${LOCUS_FERRETDB_PG_PORT:-54323}"
PG_DATA=$(server_dir pg-ferretdb)
PG_LOG="$LOCUS_LOGS/pg-ferretdb.log"
FERRETDB_LOG="$LOCUS_LOGS/ferretdb.log"
# No user: without a client's own credentials FerretDB would log in as its OS user, which has no role.
PG_URL="postgres://127.0.0.1:$PG_PORT/ferretdb"
REVIEWS_ROLE=locus_reviews
REVIEWS_SECRET=ferretdb-$REVIEWS_ROLE

go_env() {
  export GOPATH="$LOCUS_CACHE/go"
  export GOMODCACHE="$LOCUS_CACHE/go/pkg/mod"
  export GOCACHE="$LOCUS_CACHE/go/cache"
  export GOTOOLCHAIN=local   # build with the installed Go; never fetch another toolchain
  export GOFLAGS="-mod=readonly -modcacherw -buildvcs=false"
  export CGO_ENABLED=0
  export GOTELEMETRY=off
}

# The stamp names what was built: the wrapper sources and the Go version. A change rebuilds.
wrapper_stamp() {
  { cat "$WRAPPER_DIR/go.mod" "$WRAPPER_DIR/go.sum" "$WRAPPER_DIR/main.go"; go version; } | sha256sum | cut -d' ' -f1
}

cmd_install() {
  command -v go >/dev/null 2>&1 || { [[ -x /usr/local/go/bin/go ]] && PATH="/usr/local/go/bin:$PATH"; }
  command -v go >/dev/null 2>&1 || die "Go is not installed (FerretDB is built from source)"
  go_env
  local stamp
  stamp=$(wrapper_stamp)
  if [[ -x $FERRETDB_BIN && -f $FERRETDB_STAMP && $(cat "$FERRETDB_STAMP") == "$stamp" ]]; then
    log "ferretdb $FERRETDB_VERSION already built: $FERRETDB_BIN"
    return 0
  fi
  mkdir -p "$FERRETDB_HOME"
  log "building ferretdb $FERRETDB_VERSION with $(go version | cut -d' ' -f3) into $FERRETDB_BIN (first build takes about a minute)"
  log "downloading the needed modules into $GOMODCACHE and compiling"
  # ferretdb_no_sqlite: only the PostgreSQL backend is used, so the SQLite backend is left out.
  (cd "$WRAPPER_DIR" && go build -trimpath -tags ferretdb_no_sqlite -o "$FERRETDB_BIN.tmp" .) || die "go build failed"
  mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  echo "$stamp" >"$FERRETDB_STAMP"
  log "built $("$FERRETDB_BIN" version)"
}

pg_running() { [[ -f $PG_DATA/PG_VERSION ]] && as_pg "$(pg_bin)/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; }

pg_init() {
  [[ -f $PG_DATA/PG_VERSION ]] && return 0
  local bin; bin=$(pg_bin)
  if [[ -d $PG_DATA ]]; then
    log "removing incomplete PostgreSQL data dir $PG_DATA"
    rm -rf "$PG_DATA"
  fi
  prepare_server_root
  mkdir -p "$PG_DATA"
  if [[ $(id -u) == 0 ]]; then chown postgres:postgres "$PG_DATA"; fi
  chmod 0700 "$PG_DATA"
  log "initdb $PG_DATA"
  as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --locale=C --auth-local=peer \
    --auth-host=scram-sha-256 --no-instructions >>"$PG_LOG" 2>&1 || die "initdb failed; see $PG_LOG"
  as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<'EOF'

# written by scripts/services/ferretdb.sh (port and socket directory are given on the command line)
listen_addresses = '127.0.0.1'
EOF
}

# Rewritten at every start, so that an installation from before authentication gets it too.
write_hba() {
  as_pg tee "$PG_DATA/pg_hba.conf" >/dev/null <<EOF
# written by scripts/services/ferretdb.sh at every start; anything not listed is refused
local   all        postgres                          peer
host    ferretdb   $REVIEWS_ROLE   127.0.0.1/32   scram-sha-256
EOF
}

# psql as the superuser over the unix socket (the only way postgres logs in).
pg_admin() { as_pg "$(pg_bin)/psql" -X -q -h "$PG_DATA" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }

# The reviews role and its grants, idempotent. Schemas (MongoDB databases) created before there was
# a role belong to postgres: they and their tables pass to the role, which FerretDB needs to see
# them (information_schema lists only what the role may use) and to write and drop them.
ensure_reviews_role() {
  pg_admin -d ferretdb -v pw="$(secret "$REVIEWS_SECRET")" -v role="$REVIEWS_ROLE" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw';
REVOKE ALL ON DATABASE ferretdb FROM PUBLIC;
GRANT CONNECT, CREATE ON DATABASE ferretdb TO :"role";
SELECT set_config('locus.role', :'role', false);
DO $$
DECLARE
  role name := current_setting('locus.role');
  s record;
  t record;
BEGIN
  FOR s IN SELECT n.oid, n.nspname FROM pg_namespace n
            WHERE n.nspowner <> to_regrole(quote_ident(role))
              AND EXISTS (SELECT 1 FROM pg_class c
                           WHERE c.relnamespace = n.oid AND c.relname = '_ferretdb_database_metadata') LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s.nspname, role);
    FOR t IN SELECT relname FROM pg_class WHERE relnamespace = s.oid AND relkind IN ('r', 'p') LOOP
      EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', s.nspname, t.relname, role);
    END LOOP;
  END LOOP;
END $$;
SQL
}

pg_start() {
  local bin; bin=$(pg_bin)
  move_server_dir pg-ferretdb
  PG_DATA=$(server_dir pg-ferretdb)
  pg_init
  write_hba
  if pg_running; then
    log "PostgreSQL for ferretdb already running (127.0.0.1:$PG_PORT)"
    as_pg "$bin/pg_ctl" reload -D "$PG_DATA" >/dev/null
  else
    port_open "$PG_PORT" && die "port $PG_PORT is taken by another process; set LOCUS_FERRETDB_PG_PORT"
    log "starting PostgreSQL for ferretdb on 127.0.0.1:$PG_PORT (log $PG_LOG)"
    # The server inherits the log that we open: postgres needs no way into LOCUS_HOME.
    as_pg "$bin/pg_ctl" start -D "$PG_DATA" -w -t 60 -o "-p $PG_PORT -k $PG_DATA" >>"$PG_LOG" 2>&1 \
      || die "PostgreSQL did not start; see $PG_LOG"
  fi
  if ! pg_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'" | grep -q 1; then
    log "creating database ferretdb"
    as_pg "$bin/createdb" -h "$PG_DATA" -p "$PG_PORT" -U postgres ferretdb || die "createdb ferretdb failed"
  fi
  ensure_reviews_role
}

pg_stop() {
  [[ -f $PG_DATA/PG_VERSION ]] || return 0
  if pg_running; then
    log "stopping PostgreSQL for ferretdb"
    as_pg "$(pg_bin)/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null || die "pg_ctl stop failed"
  fi
}

# ferretdb_ready: FerretDB answers a MongoDB `ping` (which it answers only when PostgreSQL is up).
ferretdb_ready() {
  "$FERRETDB_BIN" ping -timeout 2s -username "$REVIEWS_ROLE" -password-file "$LOCUS_SECRETS/$REVIEWS_SECRET" \
    "$MONGO_ADDR"
}

# Used by wait_for: fails fast, through fd 3, when the process we started has died.
ferretdb_ready_or_dead() {
  if ! pid_alive ferretdb; then
    echo "[services] error: ferretdb exited during startup; last lines of $FERRETDB_LOG:" >&3
    tail -n 20 "$FERRETDB_LOG" >&3
    exit 1
  fi
  ferretdb_ready
}

cmd_start() {
  cmd_install # rebuilds only when the wrapper changed: its ping must match what start expects
  pg_start
  restrict_locus_home # after pg_start, which moves an older installation's data out
  if pid_alive ferretdb; then
    log "ferretdb already running (pid $(cat "$LOCUS_RUN/ferretdb.pid"))"
  else
    rm -f "$LOCUS_RUN/ferretdb.pid"
    port_open "$MONGO_PORT" && die "port $MONGO_PORT is taken by another process; set LOCUS_MONGO_PORT"
    log "starting ferretdb on $MONGO_ADDR (log $FERRETDB_LOG)"
    echo "--- $(date -Is) start" >>"$FERRETDB_LOG"
    # Not a process-group leader here (no job control), so setsid execs in place: $! is ferretdb.
    setsid nohup "$FERRETDB_BIN" -listen-addr "$MONGO_ADDR" -postgresql-url "$PG_URL" \
      >>"$FERRETDB_LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$LOCUS_RUN/ferretdb.pid"
  fi
  exec 3>&2
  wait_for ferretdb 60 ferretdb_ready_or_dead
  exec 3>&-
  log "ferretdb ready: mongodb://$REVIEWS_ROLE@$MONGO_ADDR/ (password in $LOCUS_SECRETS/$REVIEWS_SECRET)"
}

cmd_stop() {
  if pid_alive ferretdb; then log "stopping ferretdb"; fi
  stop_pid ferretdb
  pg_stop
}

cmd_status() {
  if pid_alive ferretdb && [[ -x $FERRETDB_BIN ]] && ferretdb_ready >/dev/null 2>&1; then
    echo "reviews-store  $MONGO_ADDR  up"
  else
    echo "reviews-store  $MONGO_ADDR  down"
    return 1
  fi
}

cmd_reset() {
  cmd_stop
  log "deleting $PG_DATA"
  rm -rf "$PG_DATA"
  rmdir "$(server_data_root)" 2>/dev/null || true # a private copy's folder, once it is empty
}

# The env line of the reviews store, for services.sh's env file: with the role's credentials once
# its PostgreSQL requires them (an installation not yet restarted with authentication takes none).
# PLAIN is the only mechanism FerretDB v1 passes through; the driver sends it to "$external".
cmd_env() {
  if [[ -f $PG_DATA/pg_hba.conf ]] && grep -q "$REVIEWS_ROLE" "$PG_DATA/pg_hba.conf"; then
    echo "LOCUS_MONGO_URL=mongodb://$REVIEWS_ROLE:$(secret "$REVIEWS_SECRET")@$MONGO_ADDR/reviews?authMechanism=PLAIN"
  else
    echo "LOCUS_MONGO_URL=mongodb://$MONGO_ADDR/reviews"
  fi
}

# One command at a time per machine (two `start`s racing would both initdb). Long-lived children
# (postgres, ferretdb) are started with fd 9 closed, or they would hold the lock forever.
exec 9>"$LOCUS_RUN/ferretdb.lock"
flock 9

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  env) cmd_env ;;
  *) die "usage: $0 install|start|stop|status|reset|env" ;;
esac
