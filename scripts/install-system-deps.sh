#!/usr/bin/env bash
# System packages the project needs beyond Node.js: a Java runtime and Maven to fetch and run
# Apache Kafka from Maven Central jars, promtool (Debian's `prometheus` package) with which the
# metrics tests lint the /metrics output, and redis-server for the state backend's integration
# tests (scripts/servers/redis.sh starts it), and C and C++ compilers for the gateway's small native
# add-ons (runtime/gateway/native-addon.ts builds them against the running Node's headers).
# Installed from Debian's packages only when missing.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
if ((${#missing[@]} > 0)); then
  echo "[deps] installing ${missing[*]} (Debian packages)" >&2
  # Only promtool is wanted from `prometheus`: its maintainer scripts must not start a Prometheus
  # server (nor the recommended node exporter) on the CI machine, nor redis-server's a system-wide
  # Redis (scripts/servers/redis.sh starts the tests' own). A policy-rc.d answering 101
  # forbids service starts during the install; we add one only if the machine has none.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
  fi
  trap 'if ((added_policy)); then rm -f "$policy"; fi' EXIT
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus
  fi
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
  echo "[deps] Node.js 20 or newer is required, found $(node --version)" >&2
  exit 1
fi
