#!/usr/bin/env bash
# System packages the project needs beyond Node.js: a Java runtime and Maven to fetch and run
# Apache Kafka from Maven Central jars. Installed from Debian's packages only when missing.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if ((${#missing[@]} > 0)); then
  echo "[deps] installing ${missing[*]} (Debian packages)" >&2
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
  echo "[deps] Node.js 20 or newer is required, found $(node --version)" >&2
  exit 1
fi
