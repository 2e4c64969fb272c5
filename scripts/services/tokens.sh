#!/usr/bin/env bash
# HTTP credentials of the native stack. Usage: tokens.sh env
# Prints the env lines for the bearer tokens the locus processes accept (none yet).
source "$(dirname "$0")/lib.sh"

cmd_env() { :; }

case "${1:-}" in
  env) cmd_env ;;
  *) die "usage: tokens.sh env" ;;
esac
