#!/usr/bin/env bash
# Shared conventions for the native service scripts: where state, caches, logs and pids live,
# and small helpers to wait for a port and stop a process by its pid file.
# Sourced, never run. Every path is outside the repository so a fresh clone stays clean.
set -euo pipefail

LOCUS_HOME="${LOCUS_HOME:-$HOME/.locus}"
LOCUS_CACHE="$LOCUS_HOME/cache"   # downloads and builds, kept between runs (jars, ferretdb binary)
LOCUS_STATE="$LOCUS_HOME/state"   # data folders of the running services
LOCUS_LOGS="$LOCUS_HOME/logs"     # one log file per service
LOCUS_RUN="$LOCUS_HOME/run"       # pid files of the processes these scripts started
LOCUS_ENV_FILE="$LOCUS_HOME/env"  # LOCUS_* addresses, written by `services up`
mkdir -p "$LOCUS_CACHE" "$LOCUS_STATE" "$LOCUS_LOGS" "$LOCUS_RUN"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME SECONDS CHECK...: polls CHECK until it succeeds, or fails naming NAME and its log.
wait_for() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$name did not become ready within ${seconds}s; see $LOCUS_LOGS/$name.log"
    fi
    sleep 0.3
  done
}

# pid_alive NAME: true when the pid recorded for NAME is a live process.
pid_alive() {
  local f="$LOCUS_RUN/$1.pid"
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# stop_pid NAME [SECONDS]: TERM the recorded process, KILL it if it outlives SECONDS, forget the pid.
stop_pid() {
  local name=$1 seconds=${2:-20} f="$LOCUS_RUN/$1.pid" pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.2
    done
  fi
  rm -f "$f"
}
