#!/usr/bin/env bash
# Shared conventions for the native service scripts: where state, caches, logs and pids live,
# and small helpers to wait for a port and stop a process by its pid file.
# Sourced, never run. Every path is outside the repository so a fresh clone stays clean.
set -euo pipefail
# State, logs, secrets and the env file hold credentials and review data: only their owner reads
# what these scripts (and the servers they start) create.
umask 077

LOCUS_HOME="${LOCUS_HOME:-$HOME/.locus}"
LOCUS_CACHE="$LOCUS_HOME/cache"     # downloads and builds, kept between runs (jars, ferretdb binary)
LOCUS_STATE="$LOCUS_HOME/state"     # data folders of the running services
LOCUS_LOGS="$LOCUS_HOME/logs"       # one log file per service
LOCUS_RUN="$LOCUS_HOME/run"         # pid files of the processes these scripts started
LOCUS_SECRETS="$LOCUS_HOME/secrets" # generated passwords and tokens, one file each
LOCUS_ENV_FILE="$LOCUS_HOME/env"    # LOCUS_* addresses, written by `services up`
mkdir -p "$LOCUS_CACHE" "$LOCUS_STATE" "$LOCUS_LOGS" "$LOCUS_RUN" "$LOCUS_SECRETS"

# mask_secrets: env lines from stdin with every password and token replaced by ***, for logs (CI's
# included): the password part of a URL, and the value of a *_PASSWORD or *_TOKEN setting.
mask_secrets() { sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#; s#^([A-Z_]*(PASSWORD|TOKEN)=).*#\1***#'; }

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

# secret NAME: the generated secret kept in $LOCUS_SECRETS/NAME (mode 0600), created at first use:
# 32 random bytes, URL-safe base64 without padding, so it is safe in a URL, a header and a shell
# variable. Delete the file to rotate it.
secret() {
  local file="$LOCUS_SECRETS/$1"
  chmod 0700 "$LOCUS_SECRETS"
  if [[ ! -s $file ]]; then
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$file.tmp.$$"
    mv -f "$file.tmp.$$" "$file"
  fi
  chmod 0600 "$file"
  cat "$file"
}

# server_data_root: where the PostgreSQL servers keep their data. As root they run as the postgres
# user, which must own its data without any home directory being opened to it, so the data lives
# in postgres's own home: one folder per LOCUS_HOME, so that private copies never share one (the
# account's own ~/.locus, from the password database rather than $HOME, gets the plain name).
# As an ordinary user the servers run as that user, under $LOCUS_STATE.
server_data_root() {
  if [[ $(id -u) != 0 ]]; then echo "$LOCUS_STATE"; return; fi
  local base
  base="$(getent passwd postgres | cut -d: -f6)/locus"
  if [[ $LOCUS_HOME == "$(getent passwd "$(id -u)" | cut -d: -f6)/.locus" ]]; then
    echo "$base"
  else
    echo "$base-$(printf %s "$LOCUS_HOME" | sha256sum | cut -c1-12)"
  fi
}

# server_dir NAME: the data folder of server (or group of servers) NAME: where an older version
# left it under $LOCUS_STATE while it is still there (move_server_dir moves it), else under
# server_data_root.
server_dir() {
  if [[ -e $LOCUS_STATE/$1 ]]; then echo "$LOCUS_STATE/$1"; else echo "$(server_data_root)/$1"; fi
}

# postmaster_alive DIR: true when a PostgreSQL server runs on a data folder at or below DIR (its
# postmaster.pid names a live process). Read as root: postgres may not reach an old folder.
postmaster_alive() {
  local pidfile
  while IFS= read -r pidfile; do
    kill -0 "$(head -n1 "$pidfile")" 2>/dev/null && return 0
  done < <(find "$1" -maxdepth 2 -name postmaster.pid 2>/dev/null)
  return 1
}

# move_server_dir NAME: moves an older installation's data of NAME from $LOCUS_STATE to
# server_data_root, owned by postgres. Only while none of its servers runs (a running server keeps
# its files open): then it says so and the data stays where it is until a stop and start.
move_server_dir() {
  local old="$LOCUS_STATE/$1" new
  new="$(server_data_root)/$1"
  [[ $old != "$new" && -d $old ]] || return 0
  if postmaster_alive "$old"; then
    log "$old stays in place while its server runs; stop and start to move it to $new"
    return 0
  fi
  [[ -e $new ]] && die "both $old and $new exist: keep one of them"
  log "moving $old to $new (the postgres user owns its data there)"
  prepare_server_root
  mv "$old" "$new"
  chown -R postgres:postgres "$new"
}

# prepare_server_root: creates server_data_root, owned by the user that runs the servers, 0700.
prepare_server_root() {
  local root
  root=$(server_data_root)
  mkdir -p "$root"
  if [[ $(id -u) == 0 ]]; then chown postgres:postgres "$root"; fi
  chmod 0700 "$root"
}

# restrict_locus_home: takes group and other access away from everything under LOCUS_HOME (older
# versions created it world-readable). While postgres still keeps data of an older installation
# under $LOCUS_STATE (it moves at the next start of its stopped servers), directories keep their
# search bit so that those running servers and their pg_ctl still reach it.
restrict_locus_home() {
  if [[ $(id -u) == 0 ]] && compgen -G "$LOCUS_STATE/pg*" >/dev/null; then
    find "$LOCUS_HOME" ! -type l -perm /go+rw -exec chmod go-rw {} +
  else
    find "$LOCUS_HOME" ! -type l -perm /go+rwx -exec chmod go-rwx {} +
  fi
}
