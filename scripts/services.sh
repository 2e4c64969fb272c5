#!/usr/bin/env bash
# Installs what is missing and runs the real services locus needs, natively on 127.0.0.1:
# three PostgreSQL servers (catalog, read primary, read replica), FerretDB for the reviews store,
# and a single-node Kafka. Usage: services.sh up|down|status|reset|env
source "$(dirname "$0")/services/lib.sh"
here="$(cd "$(dirname "$0")/services" && pwd)"
parts=(postgres ferretdb kafka)

# The env file is the concatenation of what each part prints with `<part>.sh env`: its addresses and,
# as each part gains them, the credentials of its accounts. It holds secrets, so only its owner reads it.
write_env() {
  local part tmp="$LOCUS_ENV_FILE.tmp.$$"
  (umask 077 && : >"$tmp")
  for part in "${parts[@]}" tokens; do bash "$here/$part.sh" env >>"$tmp"; done
  chmod 0600 "$tmp"
  mv -f "$tmp" "$LOCUS_ENV_FILE"
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
  log "all services up in $((SECONDS - started))s; settings in $LOCUS_ENV_FILE (secrets shown as ***):"
  mask_secrets <"$LOCUS_ENV_FILE"
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
  env) write_env ;; # rewrites the env file for the running services, starting nothing
  *) die "usage: services.sh up|down|status|reset|env" ;;
esac
