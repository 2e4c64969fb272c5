#!/usr/bin/env bash
# Installs what is missing and runs the real services locus needs, natively on 127.0.0.1:
# three PostgreSQL servers (catalog, read primary, read replica), FerretDB for the reviews store,
# and a single-node Kafka. Usage: services.sh up|down|status|reset
source "$(dirname "$0")/services/lib.sh"
here="$(cd "$(dirname "$0")/services" && pwd)"
parts=(postgres ferretdb kafka)

write_env() {
  cat >"$LOCUS_ENV_FILE" <<ENV
LOCUS_CATALOG_DB_URL=postgres://locus:locus@127.0.0.1:${LOCUS_CATALOG_PG_PORT:-54320}/catalog
LOCUS_READ_DB_URL=postgres://locus:locus@127.0.0.1:${LOCUS_READ_PG_PORT:-54321}/readmodel
LOCUS_READ_REPLICA_URL=postgres://locus:locus@127.0.0.1:${LOCUS_REPLICA_PG_PORT:-54322}/readmodel
LOCUS_MONGO_URL=mongodb://127.0.0.1:${LOCUS_MONGO_PORT:-27017}/reviews
LOCUS_KAFKA_BROKERS=127.0.0.1:${LOCUS_KAFKA_PORT:-9092}
ENV
  # Kafka's fault-injection listener (kafka.sh), for tests that cut one client off the broker: named
  # only when it answers (a broker started by an older kafka.sh has none; services down/up adds it).
  local fault_port=${LOCUS_KAFKA_FAULT_PORT:-9094}
  if port_open "$fault_port"; then
    cat >>"$LOCUS_ENV_FILE" <<ENV
LOCUS_KAFKA_FAULT_LISTENER=127.0.0.1:$fault_port
LOCUS_KAFKA_FAULT_PROXY=127.0.0.1:${LOCUS_KAFKA_FAULT_PROXY_PORT:-19094}
ENV
  fi
}

up() {
  local started=$SECONDS
  # The slow, independent installs (Maven jars, the FerretDB build) run side by side.
  local pids=() part
  for part in "${parts[@]}"; do
    bash "$here/$part.sh" install >"$LOCUS_LOGS/install-$part.log" 2>&1 &
    pids+=($!)
  done
  local i=0 failed=0
  for part in "${parts[@]}"; do
    wait "${pids[$i]}" || { log "installing $part failed; see $LOCUS_LOGS/install-$part.log"; failed=1; }
    i=$((i + 1))
  done
  ((failed == 0)) || exit 1
  for part in "${parts[@]}"; do bash "$here/$part.sh" start; done
  write_env
  log "all services up in $((SECONDS - started))s; addresses in $LOCUS_ENV_FILE:"
  cat "$LOCUS_ENV_FILE"
}

down() {
  local part rc=0
  for ((i = ${#parts[@]} - 1; i >= 0; i--)); do
    part=${parts[$i]}
    bash "$here/$part.sh" stop || rc=1
  done
  return $rc
}

status() {
  local rc=0 part
  for part in "${parts[@]}"; do bash "$here/$part.sh" status || rc=1; done
  [[ -f $LOCUS_ENV_FILE ]] && log "addresses: $LOCUS_ENV_FILE"
  return $rc
}

reset() { down; for part in "${parts[@]}"; do bash "$here/$part.sh" reset; done; }

case "${1:-}" in
  up | down | status | reset) "$1" ;;
  *) die "usage: services.sh up|down|status|reset" ;;
esac
