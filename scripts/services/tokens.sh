#!/usr/bin/env bash
# HTTP credentials of the native stack. Usage: tokens.sh env
# Prints LOCUS_DEV_TOKEN, a development bearer token every locus process accepts with every scope.
# It is generated at first use and kept in $LOCUS_HOME/secrets (only its owner reads it), so it
# survives restarts and `services.sh env` rewrites; delete the file to rotate it.
source "$(dirname "$0")/lib.sh"

secrets="$LOCUS_HOME/secrets"
dev_token_file="$secrets/dev-token"

dev_token() {
  (umask 077 && mkdir -p "$secrets")
  chmod 0700 "$secrets"
  if [[ ! -s $dev_token_file ]]; then
    local tmp="$dev_token_file.tmp.$$"
    # 32 random bytes, URL-safe base64 without padding: safe in a header and in a shell variable.
    (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$tmp")
    mv -f "$tmp" "$dev_token_file"
  fi
  chmod 0600 "$dev_token_file"
  cat "$dev_token_file"
}

cmd_env() { printf 'LOCUS_DEV_TOKEN=%s\n' "$(dev_token)"; }

case "${1:-}" in
  env) cmd_env ;;
  *) die "usage: tokens.sh env" ;;
esac
