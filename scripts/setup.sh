#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: npm packages (from package-lock.json) and the Debian
# tools the tests use as oracles (GNU binutils, gcc). Safe to run again; does nothing when ready.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.kentry-lock-stamp
if [ ! -d node_modules ] || [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund </dev/null
  cp package-lock.json "$stamp"
fi

need=()
command -v as >/dev/null || need+=(binutils)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi
