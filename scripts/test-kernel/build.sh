#!/usr/bin/env bash
# Builds the small Linux 6.1 kernel and initramfs that kentry's QEMU engine tests boot.
# Idempotent: everything lives under .cache/test-kernel/ and is rebuilt only when this
# script, the config fragment or /init change. Runs with CI=true and no stdin; installs its
# own Debian build dependencies and qemu-system-x86. Builds at low priority (nice) so it
# leaves CPU to whatever else runs on the machine.
#
# Output (paths printed at the end):
#   .cache/test-kernel/bzImage    the kernel QEMU boots (-kernel)
#   .cache/test-kernel/vmlinux    the same kernel with symbols and DWARF (entry_64.S line table)
#   .cache/test-kernel/initramfs.cpio   newc archive holding /init
#   .cache/test-kernel/init       the static /init (ELF), for tests that want its symbols
#   .cache/test-kernel/src -> the kernel tree (its arch/x86/entry/entry_64.S is what the line table names)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache/test-kernel"
version=6.1
tarball=/usr/src/linux-source-$version.tar.xz
src="$cache/linux-source-$version"
build="$cache/build"
jobs=${KENTRY_KERNEL_JOBS:-$(nproc)}
mkdir -p "$cache"

log() { echo "[test-kernel] $*"; }

# --- dependencies (Debian) ----------------------------------------------------------------
need=()
for pair in gcc:gcc make:make flex:flex bison:bison bc:bc cpio:cpio xz:xz-utils gzip:gzip \
            perl:perl qemu-system-x86_64:qemu-system-x86; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ -f /usr/include/libelf.h ] || need+=(libelf-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
[ -f "$tarball" ] || need+=("linux-source-$version")
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi

# --- kernel --------------------------------------------------------------------------------
# The stamp is the hash of every input; a matching stamp and both images mean nothing to do.
stamp_want=$( (cat "$here/build.sh" "$here/kernel.config"; ls -l "$tarball") | sha256sum | cut -c1-16)
stamp_file="$cache/kernel.stamp"
if [ -f "$cache/bzImage" ] && [ -f "$cache/vmlinux" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp_want" ]; then
  log "kernel up to date ($cache/bzImage)"
else
  start=$(date +%s)
  if [ ! -f "$src/Makefile" ]; then
    log "extracting $tarball"
    rm -rf "$src.tmp" && mkdir -p "$src.tmp"
    tar -xJf "$tarball" -C "$src.tmp"
    rm -rf "$src" && mv "$src.tmp/linux-source-$version" "$src" && rmdir "$src.tmp"
  fi
  mkdir -p "$build"
  mk() { nice -n 19 make -s -C "$src" O="$build" ARCH=x86_64 "$@" </dev/null; }
  log "configuring (tinyconfig + kernel.config)"
  mk tinyconfig >/dev/null
  "$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$here/kernel.config" >/dev/null
  mk olddefconfig >/dev/null
  # Say so when a wanted option did not stick (a dependency missing in this kernel version).
  while IFS= read -r line; do
    case "$line" in CONFIG_*=y) grep -qx "$line" "$build/.config" || log "warning: $line did not stick";; esac
  done < "$here/kernel.config"
  log "building bzImage + vmlinux with -j$jobs at nice 19"
  mk -j"$jobs" bzImage
  cp "$build/arch/x86/boot/bzImage" "$cache/bzImage"
  cp "$build/vmlinux" "$cache/vmlinux"
  ln -sfn "$src" "$cache/src"
  echo "$stamp_want" > "$stamp_file"
  log "kernel built in $(( $(date +%s) - start ))s"
fi

# --- /init and the initramfs ------------------------------------------------------------------
if [ ! -f "$cache/initramfs.cpio" ] || [ "$here/init.S" -nt "$cache/initramfs.cpio" ] || [ "$here/build.sh" -nt "$cache/initramfs.cpio" ]; then
  log "building /init and initramfs.cpio"
  gcc -static -nostdlib -no-pie -Wl,--build-id=none -o "$cache/init" "$here/init.S"
  stage="$cache/initramfs.d"
  rm -rf "$stage" && mkdir -p "$stage/dev"
  cp "$cache/init" "$stage/init"
  # The kernel's built-in initramfs already has /dev/console; a real node here too when we can.
  mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
  (cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$cache/initramfs.cpio"
fi

log "bzImage:   $cache/bzImage"
log "vmlinux:   $cache/vmlinux"
log "initramfs: $cache/initramfs.cpio"
