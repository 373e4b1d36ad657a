#!/usr/bin/env bash
# Real Linux trees for test/real: Debian's linux-source-6.1 and -6.12 packages, extracted under
# .cache/linux/ and prepared (x86_64_defconfig + `make prepare`), so include/generated/ holds the
# autoconf.h and asm-offsets.h that entry_64.S is preprocessed with. Idempotent, no stdin, CI-safe:
# a prepared tree (include/generated/asm-offsets.h present) is left alone. The kernel text is read
# at run time only; nothing from it is committed (GPL).
#
# Usage: scripts/linux-trees.sh [version...]   (default: 6.1 6.12; KENTRY_LINUX_CACHE overrides the cache dir)
# Measured on the 2-core dev box (shared): from scratch, 6.1 took 51 s wall (extract 29 s + defconfig/prepare 22 s);
# `make prepare` of 6.12 took 40 s; a prepared tree is skipped in under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=true DEBIAN_FRONTEND=noninteractive

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(6.1 6.12)
cache=${KENTRY_LINUX_CACHE:-.cache/linux}
mkdir -p "$cache"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi; }

# Build prerequisites of `make prepare` (host tools: fixdep, objtool, ...).
need=()
for tool in make:make gcc:gcc bc:bc flex:flex bison:bison xz:xz-utils; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
[ -f /usr/include/libelf.h ] || [ -f /usr/include/gelf.h ] || need+=(libelf-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
for v in "${versions[@]}"; do
  ls /usr/src/linux-source-"$v".tar.* >/dev/null 2>&1 || need+=("linux-source-$v")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "[linux-trees] apt-get install ${need[*]}"
  as_root apt-get update -qq </dev/null
  as_root apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
for v in "${versions[@]}"; do
  tree="$cache/linux-source-$v"
  if [ ! -f "$tree/Makefile" ]; then
    tarball=$(ls /usr/src/linux-source-"$v".tar.* | head -1)
    echo "[linux-trees] extracting $tarball"
    rm -rf "$tree.partial" && mkdir -p "$tree.partial"
    tar -xf "$tarball" -C "$tree.partial"
    mv "$tree.partial/linux-source-$v" "$tree" && rmdir "$tree.partial"
  fi
  if [ -f "$tree/include/generated/asm-offsets.h" ]; then
    echo "[linux-trees] $tree is prepared"
    continue
  fi
  echo "[linux-trees] $tree: make x86_64_defconfig && make prepare"
  start=$(date +%s)
  nice make -C "$tree" -s x86_64_defconfig </dev/null
  nice make -C "$tree" -s -j"$jobs" prepare </dev/null
  echo "[linux-trees] $tree prepared in $(( $(date +%s) - start ))s"
done
