#!/usr/bin/env bash
# Integration tests against real servers: installs and starts Apache Kafka (scripts/servers/kafka.sh)
# and Redis (scripts/servers/redis.sh), runs vitest.integration.config.ts, and stops the servers it
# started on exit unless SLUICE_KEEP_SERVERS=1.
#
# Environment:
#   SLUICE_KEEP_SERVERS=1   leave the servers running afterwards (faster reruns)
#   SLUICE_REDIS_URL        exported for the tests (redis://127.0.0.1:$SLUICE_REDIS_PORT, default 6390)
#   SLUICE_KAFKA_BROKERS    exported for the tests (127.0.0.1:$SLUICE_KAFKA_PORT, default port 19092),
#   with SLUICE_KAFKA_SASL_BROKERS, SLUICE_KAFKA_TLS_BROKERS and SLUICE_KAFKA_TLS_DIR (`kafka.sh env`)
#   SLUICE_CACHE_DIR, SLUICE_RUN_DIR, SLUICE_KAFKA_PORT: see scripts/servers/kafka.sh
# Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started_here=0
redis_started_here=0
cleanup() {
  local status=$?
  if [[ "${SLUICE_KEEP_SERVERS:-0}" == 1 ]]; then
    ((started_here + redis_started_here == 0)) ||
      echo "[test-integration] SLUICE_KEEP_SERVERS=1: servers keep running (scripts/servers/{kafka,redis}.sh stop)" >&2
  else
    [[ "$started_here" == 1 ]] && { bash scripts/servers/kafka.sh stop || true; }
    [[ "$redis_started_here" == 1 ]] && { bash scripts/servers/redis.sh stop || true; }
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash scripts/servers/kafka.sh install
# A broker that was running before this script (SLUICE_KEEP_SERVERS=1 earlier) is reused and left running.
if ! bash scripts/servers/kafka.sh status 2>/dev/null; then
  started_here=1
fi
brokers="$(bash scripts/servers/kafka.sh start)"
# SLUICE_KAFKA_BROKERS, SLUICE_KAFKA_SASL_BROKERS, SLUICE_KAFKA_TLS_BROKERS, SLUICE_KAFKA_TLS_DIR.
# A broker started by an older kafka.sh has no such listeners: the other tests still run against
# it, and the security tests fail saying so.
listeners="$(bash scripts/servers/kafka.sh env)" || listeners="SLUICE_KAFKA_BROKERS=$brokers"
while IFS='=' read -r name value; do
  [[ "$name" =~ ^SLUICE_KAFKA_[A-Z_]+$ ]] || continue
  export "$name=$value"
  echo "[test-integration] $name=$value" >&2
done <<<"$listeners"

# Redis for the distributed state backend (Debian's redis-server, installed when missing).
if ! bash scripts/servers/redis.sh status 2>/dev/null; then
  redis_started_here=1
fi
SLUICE_REDIS_URL="$(bash scripts/servers/redis.sh start)"
export SLUICE_REDIS_URL
echo "[test-integration] SLUICE_REDIS_URL=$SLUICE_REDIS_URL" >&2

npx vitest run -c vitest.integration.config.ts "$@"
