#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for development and the
# integration tests, installed from Maven Central jars (no tarball download: only package
# registries are reachable from CI).
#
#   scripts/servers/kafka.sh install   fetch the jars into the cache (skipped when complete)
#   scripts/servers/kafka.sh start     install, format fresh storage, start, wait until ready
#   scripts/servers/kafka.sh stop      stop the broker started by `start`
#   scripts/servers/kafka.sh restart [SECONDS]
#                                      SIGTERM the broker and start it again on the same storage,
#                                      after staying down SECONDS (default 0): an operator's restart,
#                                      or an outage longer than the clients' own retries; tests use it
#   scripts/servers/kafka.sh status    exit 0 when running, 1 otherwise
#   scripts/servers/kafka.sh env       print the listeners of the running broker as KEY=VALUE lines
#
# Listeners (all on 127.0.0.1):
#   port      PLAINTEXT       no authentication (what the other integration tests use)
#   port+1    CONTROLLER      KRaft controller, not for clients
#   port+2    SASL_PLAINTEXT  users: sluice-plain / plain-secret (PLAIN),
#                             sluice-scram256 / scram256-secret (SCRAM-SHA-256),
#                             sluice-scram512 / scram512-secret (SCRAM-SHA-512)
#   port+3    SSL             server certificate signed by a CA made at first start; clients must
#                             present a certificate signed by that CA (mutual TLS)
# TLS material is made once with openssl and keytool and kept in $SLUICE_RUN_DIR/kafka-tls: ca.pem
# (the CA for clients), client.pem + client.key (a client certificate), untrusted-ca.pem (an
# unrelated CA, for tests of a failing verification) and the broker's PKCS12 key and trust stores.
# `env` prints SLUICE_KAFKA_BROKERS, SLUICE_KAFKA_SASL_BROKERS, SLUICE_KAFKA_TLS_BROKERS and
# SLUICE_KAFKA_TLS_DIR (written at start to $SLUICE_RUN_DIR/kafka/listeners.env).
#
# Environment:
#   SLUICE_CACHE_DIR    jar cache root              (default: $HOME/.cache/sluice)
#   SLUICE_RUN_DIR      pid, log, config and data   (default: <repo>/.cache/run)
#   SLUICE_KAFKA_PORT   client listener port        (default: 19092; see Listeners for port+1..3)
#   SLUICE_KAFKA_START_TIMEOUT  seconds to wait for readiness (default: 90)
#   SLUICE_KAFKA_HEAP   JVM -Xmx                    (default: 512m)
#
# Progress goes to stderr; `start` prints the (plaintext) broker address on stdout.
set -euo pipefail

KAFKA_VERSION=4.1.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE_DIR="${SLUICE_CACHE_DIR:-${HOME:-/root}/.cache/sluice}/kafka-$KAFKA_VERSION"
LIB_DIR="$CACHE_DIR/lib"
RUN_DIR="${SLUICE_RUN_DIR:-$REPO/.cache/run}/kafka"
# Outside RUN_DIR's data so that a fresh start keeps it; clients keep trusting the same CA.
TLS_DIR="${SLUICE_RUN_DIR:-$REPO/.cache/run}/kafka-tls"
PORT="${SLUICE_KAFKA_PORT:-19092}"
CONTROLLER_PORT=$((PORT + 1))
SASL_PORT=$((PORT + 2))
SSL_PORT=$((PORT + 3))
LISTENERS_ENV="$RUN_DIR/listeners.env"
START_TIMEOUT="${SLUICE_KAFKA_START_TIMEOUT:-90}"
HEAP="${SLUICE_KAFKA_HEAP:-512m}"
PID_FILE="$RUN_DIR/kafka.pid"
LOG_FILE="$RUN_DIR/kafka.log"
CONFIG="$RUN_DIR/server.properties"
LOG4J_CONFIG="$RUN_DIR/log4j2.properties"
DATA_DIR="$RUN_DIR/data"
READY_LINE='Kafka Server started'
# Test users of the SASL listener (a development broker: these are not secrets).
PLAIN_USER=sluice-plain
PLAIN_PASSWORD=plain-secret
SCRAM256_USER=sluice-scram256
SCRAM256_PASSWORD=scram256-secret
SCRAM512_USER=sluice-scram512
SCRAM512_PASSWORD=scram512-secret

say() { printf '[kafka] %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# Java 17+ and Maven come with this project's machines; on a bare Debian/Ubuntu as root they are
# installed from the distribution.
ensure_tools() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v openssl >/dev/null || missing+=(openssl)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} with apt-get"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    die "missing ${missing[*]}: Java 17+ and Maven 3.6+ are needed"
  fi
}

# Jars that must be in lib/ for the install to count as complete (the marker file is written last).
INSTALL_MARKER="$LIB_DIR/.complete-$KAFKA_VERSION"

installed() { [[ -f "$INSTALL_MARKER" && -f "$LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]]; }

install() {
  if installed; then
    say "jars already installed in $LIB_DIR"
    return 0
  fi
  ensure_tools
  say "installing Kafka $KAFKA_VERSION jars from Maven Central into $LIB_DIR (cold: ~30 s, 43 MB)"
  local started=$SECONDS tmp
  mkdir -p "$CACHE_DIR"
  tmp="$(mktemp -d "$CACHE_DIR/lib.tmp.XXXXXX")"
  if ! mvn -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" -DincludeScope=runtime >"$CACHE_DIR/install.log" 2>&1; then
    rm -rf "$tmp"
    grep -E 'ERROR|BUILD' "$CACHE_DIR/install.log" | tail -n 30 >&2 || tail -n 30 "$CACHE_DIR/install.log" >&2
    die "maven could not fetch the Kafka jars (full output: $CACHE_DIR/install.log)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || {
    rm -rf "$tmp"
    die "maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  }
  touch "$tmp/.complete-$KAFKA_VERSION"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  say "installed $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - started)) s"
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be our broker JVM.
  grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

write_config() {
  mkdir -p "$DATA_DIR"
  local store_password
  store_password="$(cat "$TLS_DIR/store-password")"
  # auto.create.topics.enable=false: topics exist only through Log.ensureTopic with an explicit
  # partition count, as in the embedded log. With auto-creation on, a produce or a metadata request
  # for a misspelled topic would silently create it with the broker's default partition count and
  # the keyed partitioning (partitionForKey) would no longer match what the pipeline expects.
  cat >"$CONFIG" <<EOF
# Generated by scripts/servers/kafka.sh; edits are overwritten at the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
# SASL listener: PLAIN users live in the JAAS line below; SCRAM users are created at format time
# (StorageTool --add-scram) and stored in the cluster metadata, as kafka-configs --alter would.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$PLAIN_USER="$PLAIN_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# SSL listener: mutual TLS with the CA of $TLS_DIR.
listener.name.ssl.ssl.keystore.type=PKCS12
listener.name.ssl.ssl.keystore.location=$TLS_DIR/broker.p12
listener.name.ssl.ssl.keystore.password=$store_password
listener.name.ssl.ssl.key.password=$store_password
listener.name.ssl.ssl.truststore.type=PKCS12
listener.name.ssl.ssl.truststore.location=$TLS_DIR/truststore.p12
listener.name.ssl.ssl.truststore.password=$store_password
listener.name.ssl.ssl.client.auth=required
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
# No time-based retention: tests append records with timestamps years in the past (timestamps must
# round-trip), and the retention check (every 5 min) would delete them under a running test. The
# data dir is recreated at every start, so nothing accumulates across runs.
log.retention.ms=-1
log.retention.bytes=-1
EOF
  # Kafka 4.x logs through SLF4J -> log4j2; without a configuration log4j2 prints only ERROR, and
  # the readiness line (INFO from kafka.server.KafkaRaftServer) would never appear.
  cat >"$LOG4J_CONFIG" <<'EOF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.controller.name = kafka.controller
logger.controller.level = warn
logger.coordinator.name = kafka.coordinator
logger.coordinator.level = warn
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
EOF
}

# The CA, the broker's key and trust stores and a client certificate, made once and kept in
# TLS_DIR (a CA that changed at every start would invalidate the ca.pem clients were given).
# openssl makes the keys and certificates, keytool the broker's PKCS12 trust store.
ensure_tls() {
  if [[ -f "$TLS_DIR/.complete" ]]; then
    return 0
  fi
  command -v openssl >/dev/null && command -v keytool >/dev/null || ensure_tools
  say "making a CA and broker/client certificates in $TLS_DIR"
  local tmp
  mkdir -p "$(dirname "$TLS_DIR")"
  tmp="$(mktemp -d "$TLS_DIR.tmp.XXXXXX")"
  (
    cd "$tmp"
    set -e
    openssl rand -hex 16 >store-password
    local password
    password="$(cat store-password)"
    make_ca() { # name subject
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "$2" -keyout "$1.key" -out "$1.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    }
    sign() { # name subject extensions
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr"
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -days 3650 -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -extfile "$1.ext" -out "$1.pem"
    }
    make_ca ca '/CN=Sluice development CA'
    make_ca untrusted-ca '/CN=Unrelated CA'
    sign broker '/CN=127.0.0.1' $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'
    sign client '/CN=sluice-client' 'extendedKeyUsage=clientAuth'
    openssl pkcs12 -export -name broker -in broker.pem -inkey broker.key -certfile ca.pem \
      -out broker.p12 -passout "pass:$password"
    keytool -importcert -noprompt -alias sluice-ca -file ca.pem -keystore truststore.p12 \
      -storetype PKCS12 -storepass "$password"
    rm -f ./*.csr ./*.ext ./*.srl untrusted-ca.key
    chmod 600 ./*.key store-password ./*.p12
    touch .complete
  ) >"$tmp.log" 2>&1 || {
    tail -n 30 "$tmp.log" >&2
    rm -rf "$tmp"
    die "making the TLS material failed (openssl and keytool are needed)"
  }
  rm -f "$tmp.log"
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
}

write_listeners_env() {
  cat >"$LISTENERS_ENV" <<EOF
SLUICE_KAFKA_BROKERS=127.0.0.1:$PORT
SLUICE_KAFKA_SASL_BROKERS=127.0.0.1:$SASL_PORT
SLUICE_KAFKA_TLS_BROKERS=127.0.0.1:$SSL_PORT
SLUICE_KAFKA_TLS_DIR=$TLS_DIR
EOF
}

java_cmd() {
  java "-Dlog4j2.configurationFile=$LOG4J_CONFIG" -cp "$LIB_DIR/*" "$@"
}

start() {
  local pid
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$PORT"
    echo "127.0.0.1:$PORT"
    return 0
  fi
  installed || install
  command -v java >/dev/null || ensure_tools
  local port
  for port in "$PORT" "$CONTROLLER_PORT" "$SASL_PORT" "$SSL_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is taken by another process (not a broker started by this script); stop it or set SLUICE_KAFKA_PORT (the broker uses it and the next three ports)"
    fi
  done
  mkdir -p "$RUN_DIR"
  ensure_tls
  # Fresh storage at every start: tests create uniquely named topics, and a stale cluster id from an
  # earlier format would make the broker refuse to start.
  rm -rf "$DATA_DIR"
  rm -f "$LISTENERS_ENV"
  write_config
  format_storage
  launch
  write_listeners_env
}

format_storage() {
  say "formatting storage in $DATA_DIR"
  local cluster_id
  # stderr away: log4j/SLF4J warnings on stderr would otherwise end up inside the cluster id.
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid printed '$cluster_id', not a cluster id"
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
    --add-scram "SCRAM-SHA-256=[name=$SCRAM256_USER,password=$SCRAM256_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM512_USER,password=$SCRAM512_PASSWORD]" \
    >"$RUN_DIR/format.log" 2>&1 || {
    tail -n 40 "$RUN_DIR/format.log" >&2
    die "formatting the storage failed"
  }
  say "formatted storage of cluster $cluster_id"
}

# Starts the JVM on the storage and configuration in place and waits until it is ready.
launch() {
  local pid
  say "starting broker on 127.0.0.1:$PORT, controller 127.0.0.1:$CONTROLLER_PORT; log: $LOG_FILE"
  local started=$SECONDS
  : >"$LOG_FILE"
  nohup java "-Xmx$HEAP" -Xms128m "-Dlog4j2.configurationFile=$LOG4J_CONFIG" -cp "$LIB_DIR/*" \
    kafka.Kafka "$CONFIG" >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  local last_report=$SECONDS
  while ! grep -q "$READY_LINE" "$LOG_FILE"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "broker exited during start-up; last lines of $LOG_FILE:"
      tail -n 60 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      exit 1
    fi
    if ((SECONDS - started >= START_TIMEOUT)); then
      say "not ready after $START_TIMEOUT s; last lines of $LOG_FILE:"
      tail -n 60 "$LOG_FILE" >&2
      stop
      exit 1
    fi
    if ((SECONDS - last_report >= 10)); then
      say "still starting ($((SECONDS - started)) s)"
      last_report=$SECONDS
    fi
    sleep 0.25
  done
  say "ready in $((SECONDS - started)) s (pid $pid)"
  echo "127.0.0.1:$PORT"
}

# A broker restart as operators do it: SIGTERM (controlled shutdown), then the same storage again.
restart() {
  running_pid >/dev/null || die "not running: nothing to restart (use start)"
  [[ -f "$CONFIG" && -d "$DATA_DIR" ]] || die "no configuration or storage in $RUN_DIR"
  stop
  # The port may linger for a moment after the JVM exits.
  local waited=0
  while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    ((waited++ < 40)) || die "port $PORT still taken after the broker stopped"
    sleep 0.25
  done
  local down="${1:-0}"
  if [[ "$down" != 0 ]]; then
    [[ "$down" =~ ^[0-9]+$ ]] || die "restart takes a whole number of seconds to stay down, got '$down'"
    say "staying down for $down s"
    sleep "$down"
  fi
  launch
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 120)); then # 30 s at 0.25 s per step
      say "still alive after 30 s, killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.25
    waited=$((waited + 1))
  done
  rm -f "$PID_FILE"
  say "stopped"
}

env_lines() {
  running_pid >/dev/null || die "not running (use start)"
  [[ -f "$LISTENERS_ENV" ]] ||
    die "the running broker was started without SASL and TLS listeners (by an older kafka.sh): stop and start it again"
  cat "$LISTENERS_ENV"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    say "running (pid $pid) on 127.0.0.1:$PORT"
    return 0
  fi
  say "not running"
  return 1
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
restart) restart "${2:-0}" ;;
status) status ;;
env) env_lines ;;
*)
  echo "usage: $0 install|start|stop|restart|status|env" >&2
  exit 2
  ;;
esac
