#!/usr/bin/env bash
# A Redis server for the distributed state backend in development and the integration tests:
# Debian's redis-server (installed with apt-get when missing), on 127.0.0.1, with AOF persistence
# (appendfsync everysec), as a state store should run.
#
#   scripts/servers/redis.sh install   install redis-server from Debian's packages when missing
#   scripts/servers/redis.sh start     install, start on fresh storage, wait until it answers
#   scripts/servers/redis.sh stop      stop the server started by `start`
#   scripts/servers/redis.sh status    exit 0 when running, 1 otherwise
#
# Environment:
#   SLUICE_RUN_DIR      pid, log and data      (default: <repo>/.cache/run)
#   SLUICE_REDIS_PORT   port                   (default: 6390)
#
# Progress goes to stderr; `start` prints the URL (redis://127.0.0.1:PORT) on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUN_DIR="${SLUICE_RUN_DIR:-$REPO/.cache/run}/redis"
PORT="${SLUICE_REDIS_PORT:-6390}"
PID_FILE="$RUN_DIR/redis.pid"
LOG_FILE="$RUN_DIR/redis.log"
DATA_DIR="$RUN_DIR/data"

say() { printf '[redis] %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

install() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    return 0
  fi
  [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || die "redis-server is missing: install Debian's redis-server package"
  say "installing redis-server from Debian's packages"
  apt-get update -qq >&2
  # policy-rc.d keeps the package from starting a system-wide server on the default port.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends redis-server >&2
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q 'redis-server' "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  local pid
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$PORT"
    echo "redis://127.0.0.1:$PORT"
    return 0
  fi
  install
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is taken by another process; stop it or set SLUICE_REDIS_PORT"
  fi
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  : >"$LOG_FILE"
  redis-server --port "$PORT" --bind 127.0.0.1 --protected-mode yes --dir "$DATA_DIR" \
    --save '' --appendonly yes --appendfsync everysec --daemonize no \
    --logfile "$LOG_FILE" </dev/null >/dev/null 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"
  local waited=0
  until redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      die "redis-server exited during start-up"
    fi
    ((waited++ < 200)) || die "redis-server did not answer within 20 s"
    sleep 0.1
  done
  say "ready (pid $pid) on 127.0.0.1:$PORT"
  echo "redis://127.0.0.1:$PORT"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited++ >= 100)); then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$PID_FILE"
  say "stopped"
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
status) status ;;
*)
  echo "usage: $0 install|start|stop|status" >&2
  exit 2
  ;;
esac
