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

# PostgreSQL server binaries: Debian's layout, newest major first, unless LOCUS_PG_BIN says where.
pg_bin() {
  if [[ -n ${LOCUS_PG_BIN:-} ]]; then echo "$LOCUS_PG_BIN"; return; fi
  if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then echo /usr/lib/postgresql/15/bin; return; fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [[ -n $d && -x $d/pg_ctl ]] || die "no PostgreSQL server binaries (apt-get install postgresql)"
  echo "$d"
}

# as_pg CMD...: runs CMD as the postgres user (the server refuses to run as root), from / so that
# no "could not change directory" warnings come from an unreadable working directory.
as_pg() {
  if [[ $(id -un) == postgres ]]; then
    (cd / && "$@") 9>&-
  elif [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no postgres user (apt-get install postgresql)"
    (cd / && runuser -u postgres -- "$@") 9>&-
  else
    (cd / && "$@") 9>&- # an ordinary user runs the servers as itself
  fi
}

# grant_traverse DIR: lets the postgres user reach DIR ($LOCUS_HOME is usually under /root, which
# is 0700). Adds only o+x (search, not listing) on each ancestor that postgres cannot yet enter.
grant_traverse() {
  [[ $(id -u) == 0 ]] || return 0
  local path="" part
  IFS=/ read -ra parts <<<"${1#/}"
  for part in "${parts[@]}"; do
    [[ -n $part ]] || continue
    path="$path/$part"
    [[ -d $path ]] || break
    if ! runuser -u postgres -- test -x "$path" 2>/dev/null; then
      log "chmod o+x $path (so the postgres user can reach its data dir)"
      chmod o+x "$path"
    fi
  done
}
