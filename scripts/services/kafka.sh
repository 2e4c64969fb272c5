#!/usr/bin/env bash
# A single-node Apache Kafka broker in KRaft mode (one JVM that is both broker and controller),
# run natively from the jars on Maven Central: no Docker, no download outside the registries.
#
#   kafka.sh install   fetch the broker jars into $LOCUS_CACHE/kafka-<version>/libs (once)
#   kafka.sh start     format storage if new, start the broker, wait until it serves clients
#   kafka.sh stop      stop the broker this script started
#   kafka.sh status    one line "kafka  127.0.0.1:<port>  up|down"; exit 0 when up
#   kafka.sh reset     stop and delete the broker's data ($LOCUS_STATE/kafka)
#
# Client port: LOCUS_KAFKA_PORT (default 9092). Controller port: LOCUS_KAFKA_CONTROLLER_PORT (9093).
# Broker-internal port: LOCUS_KAFKA_INTERNAL_PORT (9095). Fault-injection listener (tests only): on when
# LOCUS_KAFKA_FAULT_LISTENER=on at start, on LOCUS_KAFKA_FAULT_PORT (9094).
# The Kafka version is the <kafka.version> property of kafka/pom.xml beside this script.
#
# Clients authenticate with SASL/SCRAM-SHA-512 as admin, relay or projector; the passwords are made at
# first start and kept in $LOCUS_SECRETS/kafka-<user> (0600). The broker's own connections (inter-broker and
# to the controller) use SASL/PLAIN as the user "broker", whose password only server.properties and
# the secrets folder hold. Authorization: StandardAuthorizer, nothing allowed without an ACL; admin and
# broker are super users. `locus migrate` grants the relay's and projector's ACLs (src/messaging/kafka-acls.ts).
source "$(dirname "$0")/lib.sh"

KAFKA_HERE="$(cd "$(dirname "$0")" && pwd)"
KAFKA_POM="$KAFKA_HERE/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n1)"
[[ -n $KAFKA_VERSION ]] || die "no <kafka.version> in $KAFKA_POM"

KAFKA_HOME="$LOCUS_CACHE/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_MARKER="$KAFKA_HOME/.installed"
KAFKA_M2="$LOCUS_CACHE/m2"
KAFKA_STATE="$LOCUS_STATE/kafka"
KAFKA_DATA="$KAFKA_STATE/data"
KAFKA_PROPS="$KAFKA_STATE/server.properties"
KAFKA_LOG4J="$KAFKA_STATE/log4j2.xml"
KAFKA_CLUSTER_ID_FILE="$KAFKA_STATE/cluster-id"
KAFKA_LOG="$LOCUS_LOGS/kafka.log"
KAFKA_PORT="${LOCUS_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${LOCUS_KAFKA_CONTROLLER_PORT:-9093}"
# The fault-injection listener: it advertises a port nothing listens on until a test starts a TCP
# proxy there (to this listener). A client bootstrapped through that proxy reaches the broker only
# through it, so cutting the proxy takes the broker away from that client alone (see services.sh).
KAFKA_FAULT_PORT="${LOCUS_KAFKA_FAULT_PORT:-9094}"
KAFKA_FAULT_PROXY_PORT="${LOCUS_KAFKA_FAULT_PROXY_PORT:-19094}"
KAFKA_INTERNAL_PORT="${LOCUS_KAFKA_INTERNAL_PORT:-9095}"
KAFKA_HOST=127.0.0.1
# SCRAM users clients log in as; the broker's own PLAIN user is not among them.
KAFKA_USERS=(admin relay projector)
KAFKA_SCRAM=SCRAM-SHA-512
# The digest of the SCRAM users and passwords the broker's metadata holds (see ensure_scram_users).
KAFKA_SCRAM_MARKER="$KAFKA_STATE/scram-users"
KAFKA_INTERNAL_CLIENT="$KAFKA_STATE/internal-client.properties"

# What the marker records: a change of the pom (version, logging jars) makes install run again.
kafka_fingerprint() { printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"; }

kafka_installed() {
  [[ -f $KAFKA_MARKER && "$(cat "$KAFKA_MARKER")" == "$(kafka_fingerprint)" ]] &&
    compgen -G "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null
}

need_java() {
  command -v java >/dev/null 2>&1 || die "java not found; Kafka $KAFKA_VERSION needs Java 17 or newer"
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [[ ${v%%.*} =~ ^[0-9]+$ ]] && ((${v%%.*} >= 17)) ||
    die "Kafka $KAFKA_VERSION needs Java 17 or newer; found java.specification.version=${v:-unknown}"
}

cmd_install() {
  if kafka_installed; then
    log "kafka $KAFKA_VERSION already installed in $KAFKA_LIBS"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found; it fetches the Kafka jars from Maven Central"
  need_java
  log "installing kafka $KAFKA_VERSION: fetching jars from Maven Central (maven repo $KAFKA_M2)"
  mkdir -p "$KAFKA_HOME" "$KAFKA_M2"
  rm -f "$KAFKA_MARKER"
  local tmp="$KAFKA_HOME/libs.tmp.$$"
  rm -rf "$tmp"
  # -f works from any cwd; copy-dependencies writes only into the output directory named here.
  # sed drops the colour resets that mvn 3.8 prints even when -q and not on a terminal;
  # pipefail (lib.sh) keeps mvn's exit status.
  if ! mvn -q -B -f "$KAFKA_POM" \
      -Dmaven.repo.local="$KAFKA_M2" \
      dependency:copy-dependencies \
      -DincludeScope=runtime \
      -DoutputDirectory="$tmp" \
      -Dmdep.useRepositoryLayout=false 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$tmp"
    die "mvn could not fetch kafka $KAFKA_VERSION jars (see output above)"
  fi
  compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || {
    rm -rf "$tmp"
    die "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is missing from the copied jars"
  }
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  kafka_fingerprint >"$KAFKA_MARKER"
  log "kafka $KAFKA_VERSION installed: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1) in $KAFKA_LIBS"
}

# A KRaft cluster id is 16 random bytes in URL-safe base64 without padding (22 characters),
# the same as `kafka-storage.sh random-uuid` prints; made here to spare a JVM start.
new_cluster_id() {
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

fault_listener_wanted() { [[ ${LOCUS_KAFKA_FAULT_LISTENER:-off} == on ]]; }

# kafka_password NAME: the password of Kafka user NAME ($LOCUS_SECRETS/kafka-NAME, made at first use).
kafka_password() { secret "kafka-$1"; }

# The password of NAME when it was made already, else nothing: `env` creates no secrets.
existing_password() {
  local file="$LOCUS_SECRETS/kafka-$1"
  [[ -s $file ]] && cat "$file"
}

scram_digest() {
  local user
  for user in "${KAFKA_USERS[@]}"; do printf '%s %s=%s\n' "$KAFKA_SCRAM" "$user" "$(kafka_password "$user")"; done |
    sha256sum | cut -d' ' -f1
}

write_config() {
  mkdir -p "$KAFKA_STATE" "$KAFKA_DATA"
  local broker_password listeners advertised protocols
  broker_password=$(kafka_password broker)
  listeners="CLIENT://$KAFKA_HOST:$KAFKA_PORT,INTERNAL://$KAFKA_HOST:$KAFKA_INTERNAL_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT"
  advertised="CLIENT://$KAFKA_HOST:$KAFKA_PORT,INTERNAL://$KAFKA_HOST:$KAFKA_INTERNAL_PORT"
  protocols="CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
  if fault_listener_wanted; then
    listeners+=",FAULTS://$KAFKA_HOST:$KAFKA_FAULT_PORT"
    advertised+=",FAULTS://$KAFKA_HOST:$KAFKA_FAULT_PROXY_PORT"
    protocols+=",FAULTS:SASL_PLAINTEXT"
  fi
  local plain_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"$broker_password\" user_broker=\"$broker_password\";"
  local scram_jaas="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  # It holds the broker's password: its owner only (lib.sh's umask), whatever an older start left.
  rm -f "$KAFKA_PROPS"
  cat >"$KAFKA_PROPS" <<EOF
# Written by scripts/services/kafka.sh on every start; edits here are overwritten.
# Single node: one process is broker and KRaft controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=$listeners
# FAULTS (only when the setup asks for it): for fault-injection tests; its advertised port is where such a test runs its proxy
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=$protocols

# Clients: SCRAM users (admin, relay, projector) kept in the cluster metadata
sasl.enabled.mechanisms=$KAFKA_SCRAM
listener.name.client.sasl.enabled.mechanisms=$KAFKA_SCRAM
listener.name.client.${KAFKA_SCRAM,,}.sasl.jaas.config=$scram_jaas
listener.name.faults.sasl.enabled.mechanisms=$KAFKA_SCRAM
listener.name.faults.${KAFKA_SCRAM,,}.sasl.jaas.config=$scram_jaas
# The broker itself: PLAIN with a static user, since a controller cannot look SCRAM users up in the
# metadata it is still loading
listener.name.internal.sasl.enabled.mechanisms=PLAIN
listener.name.internal.plain.sasl.jaas.config=$plain_jaas
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=$plain_jaas
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:broker

log.dirs=$KAFKA_DATA

# one broker, so every internal topic has one replica
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# fewer partitions for the internal topics than the default 50: quicker first consumer group
offsets.topic.num.partitions=6
transaction.state.log.num.partitions=6

num.partitions=6
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0

# light on a 2-core machine
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
EOF
  cat >"$KAFKA_LOG4J" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/services/kafka.sh. The broker's stdout is the service log file.
     shutdownHook disabled: log4j would otherwise stop before Kafka logs its own shutdown. -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.clients.NetworkClient" level="WARN"/>
    <!-- the ~340-line dump of every config value at each start; server.properties is beside this file -->
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

# Heap capped at 512 MiB, pauses kept short, few JIT threads: light on a 2-core machine.
KAFKA_JVM_OPTS=(
  -Xmx512m -Xms256m
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
  -XX:CICompilerCount=2
  -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$KAFKA_LOG4J"
  -cp "$KAFKA_LIBS/*"
)

kafka_java() { java "${KAFKA_JVM_OPTS[@]}" "$@"; }

format_storage() {
  if [[ ! -s $KAFKA_CLUSTER_ID_FILE ]]; then
    new_cluster_id >"$KAFKA_CLUSTER_ID_FILE"
  fi
  [[ -f $KAFKA_DATA/meta.properties ]] && return 0
  local cid
  cid=$(cat "$KAFKA_CLUSTER_ID_FILE")
  log "formatting kafka storage in $KAFKA_DATA (cluster id $cid)"
  # Static quorum (controller.quorum.voters), so no --standalone.
  # The SCRAM users go into the first metadata records, so the broker authenticates them from its
  # first start.
  local out user scram=()
  for user in "${KAFKA_USERS[@]}"; do
    scram+=(--add-scram "$KAFKA_SCRAM=[name=$user,password=$(kafka_password "$user")]")
  done
  if ! out=$(kafka_java kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_PROPS" --ignore-formatted "${scram[@]}" 2>&1); then
    printf '%s\n' "$out" >>"$KAFKA_LOG"
    printf '%s\n' "$out" | grep -v '^\s' | tail -n 15 >&2
    die "kafka storage format failed (full output in $KAFKA_LOG)"
  fi
  printf '%s\n' "$out" >>"$KAFKA_LOG"
  scram_digest >"$KAFKA_SCRAM_MARKER"
}

# Data formatted before SASL (or passwords changed since): set each SCRAM user's password through the
# broker's own internal listener, where the broker user is a super user. Skipped when the marker says
# the metadata already holds these passwords.
ensure_scram_users() {
  local digest user out
  digest=$(scram_digest)
  [[ -f $KAFKA_SCRAM_MARKER && "$(cat "$KAFKA_SCRAM_MARKER")" == "$digest" ]] && return 0
  rm -f "$KAFKA_INTERNAL_CLIENT"
  cat >"$KAFKA_INTERNAL_CLIENT" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="$(kafka_password broker)";
EOF
  for user in "${KAFKA_USERS[@]}"; do
    log "kafka: setting the $KAFKA_SCRAM credentials of user $user"
    if ! out=$(kafka_java kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_INTERNAL_PORT" \
        --command-config "$KAFKA_INTERNAL_CLIENT" --alter --entity-type users --entity-name "$user" \
        --add-config "$KAFKA_SCRAM=[password=$(kafka_password "$user")]" 2>&1); then
      printf '%s\n' "$out" >>"$KAFKA_LOG"
      die "kafka: could not set the credentials of $user (output in $KAFKA_LOG)"
    fi
  done
  printf '%s\n' "$digest" >"$KAFKA_SCRAM_MARKER"
}

# kafka_ours: the recorded pid is alive and is this broker (its command line names kafka.Kafka and
# our server.properties), not an unrelated process that reused the pid of one that died.
kafka_ours() {
  pid_alive kafka || return 1
  local pid cmdline
  pid=$(cat "$LOCUS_RUN/kafka.pid")
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *kafka.Kafka*"$KAFKA_PROPS"* ]]
}

# forget a pid file that does not name our broker, without signalling whatever has that pid now
forget_stale_pid() {
  if [[ -f $LOCUS_RUN/kafka.pid ]] && ! kafka_ours; then rm -f "$LOCUS_RUN/kafka.pid"; fi
}

kafka_up() { kafka_ours && port_open "$KAFKA_PORT"; }

# Ready = our process lives, the client port accepts connections and this run's log says the
# server started. Exits the script at once (on fd 4, since wait_for hides the check's output)
# when the process has died, rather than waiting out the timeout.
KAFKA_LOG_FROM=0
kafka_ready() {
  # pid_alive, not kafka_ours: just after the fork the child may not have exec'd java yet
  if ! pid_alive kafka; then
    printf '[services] error: kafka exited during startup; last lines of %s:\n' "$KAFKA_LOG" >&4
    tail -c "+$((KAFKA_LOG_FROM + 1))" "$KAFKA_LOG" | grep -v '^\s' | tail -n 30 >&4 || true
    rm -f "$LOCUS_RUN/kafka.pid"
    exit 1
  fi
  port_open "$KAFKA_PORT" &&
    tail -c "+$((KAFKA_LOG_FROM + 1))" "$KAFKA_LOG" | grep -q 'Kafka Server started'
}

cmd_start() {
  if kafka_up; then
    log "kafka already running (pid $(cat "$LOCUS_RUN/kafka.pid")) on $KAFKA_HOST:$KAFKA_PORT"
    return 0
  fi
  kafka_installed || cmd_install
  need_java
  forget_stale_pid
  if kafka_ours; then
    # ours, but not answering yet: a start still under way
    log "kafka (pid $(cat "$LOCUS_RUN/kafka.pid")) is starting; waiting for $KAFKA_HOST:$KAFKA_PORT"
    # look for the started line only after this run's start banner
    KAFKA_LOG_FROM=$(grep -b '^==== kafka ' "$KAFKA_LOG" 2>/dev/null | tail -n1 | cut -d: -f1)
    KAFKA_LOG_FROM=${KAFKA_LOG_FROM:-0}
    exec 4>&2
    wait_for kafka 90 kafka_ready
    log "kafka up on $KAFKA_HOST:$KAFKA_PORT (pid $(cat "$LOCUS_RUN/kafka.pid"))"
    return 0
  fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a process these scripts did not start"
  port_open "$KAFKA_INTERNAL_PORT" &&
    die "internal port $KAFKA_INTERNAL_PORT is taken by a process these scripts did not start"
  port_open "$KAFKA_CONTROLLER_PORT" &&
    die "controller port $KAFKA_CONTROLLER_PORT is taken by a process these scripts did not start"

  write_config
  touch "$KAFKA_LOG"
  format_storage
  KAFKA_LOG_FROM=$(stat -c %s "$KAFKA_LOG")
  printf '\n==== kafka %s start %s ====\n' "$KAFKA_VERSION" "$(date -u +%FT%TZ)" >>"$KAFKA_LOG"
  log "starting kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, log $KAFKA_LOG)"
  # setsid: its own session, so a terminal's Ctrl-C or the caller's exit does not reach it.
  # Not a process-group leader here (no job control), so setsid execs in place and $! is java's pid.
  setsid nohup java "${KAFKA_JVM_OPTS[@]}" kafka.Kafka "$KAFKA_PROPS" \
    </dev/null >>"$KAFKA_LOG" 2>&1 9>&- &
  echo $! >"$LOCUS_RUN/kafka.pid"
  exec 4>&2
  wait_for kafka 90 kafka_ready
  ensure_scram_users
  log "kafka up on $KAFKA_HOST:$KAFKA_PORT (pid $(cat "$LOCUS_RUN/kafka.pid"), SASL/$KAFKA_SCRAM)"
}

cmd_stop() {
  forget_stale_pid
  if kafka_ours; then
    log "stopping kafka (pid $(cat "$LOCUS_RUN/kafka.pid"))"
    # TERM gives a controlled shutdown (about 2 s); KILL only if it outlives 30 s
    stop_pid kafka 30
  fi
}

cmd_status() {
  if kafka_up; then
    printf '%-14s %s:%-6s up\n' kafka "$KAFKA_HOST" "$KAFKA_PORT"
  else
    printf '%-14s %s:%-6s down\n' kafka "$KAFKA_HOST" "$KAFKA_PORT"
    return 1
  fi
}

cmd_reset() {
  cmd_stop
  rm -rf "$KAFKA_STATE"
  log "kafka data deleted ($KAFKA_STATE)"
}

# The env lines of the broker, for services.sh's env file: its address, and each SCRAM user's name and
# password once the broker's metadata holds them (the marker). The fault-injection listener (for tests
# that cut one client off the broker) is named only when it answers: only a start that asked for it has one.
cmd_env() {
  echo "LOCUS_KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT"
  local user password
  [[ -f $KAFKA_SCRAM_MARKER ]] || KAFKA_USERS=()
  for user in "${KAFKA_USERS[@]}"; do
    password=$(existing_password "$user") || continue
    echo "LOCUS_KAFKA_${user^^}_USER=$user"
    echo "LOCUS_KAFKA_${user^^}_PASSWORD=$password"
  done
  if port_open "$KAFKA_FAULT_PORT"; then
    echo "LOCUS_KAFKA_FAULT_LISTENER=$KAFKA_HOST:$KAFKA_FAULT_PORT"
    echo "LOCUS_KAFKA_FAULT_PROXY=$KAFKA_HOST:$KAFKA_FAULT_PROXY_PORT"
  fi
}

# One kafka.sh at a time changes things (two concurrent starts would launch two brokers).
# The broker is started with this descriptor closed, so it never holds the lock.
kafka_lock() {
  exec 9>"$LOCUS_RUN/kafka.lock"
  flock -w 120 9 || die "another kafka.sh has held $LOCUS_RUN/kafka.lock for 120s"
}

case "${1:-}" in
  install | start | stop | reset) kafka_lock ;;
esac
case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  env) cmd_env ;;
  *) die "usage: $0 install|start|stop|status|reset|env" ;;
esac
