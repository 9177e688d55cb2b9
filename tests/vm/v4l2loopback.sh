#!/bin/bash
# tests/vm/v4l2loopback.sh: v4l2loopback.ko for the kernel tests/vm/run.sh boots, built from
# Debian's own source package (v4l2loopback-dkms) against that kernel's headers.
#
#   tests/vm/v4l2loopback.sh [KERNEL_VERSION]      # e.g. 6.1.0-56-amd64
#
# Prints the path of the module on stdout (everything else goes to stderr). Cached in
# $PERISCOPE_VM_CACHE/v4l2loopback/<kver>/ beside run.sh's kernel cache, keyed by the kernel
# version and this script, so a warm run builds nothing. The kernel version is found as run.sh
# finds it: PERISCOPE_VM_KERNEL_PKG, else what linux-image-amd64 depends on, else the newest
# kernel in the cache (offline).
#
# Cold: `apt-get download` of linux-headers-<kver> (arch part), the -common tree and the
# linux-kbuild-X.Y it depends on (~14 MB) and v4l2loopback-dkms, extracted into a scratch
# directory (nothing is installed but the compiler and make, through scripts/lib.sh), then
# `make -C <headers> M=<source> modules` with the compiler the kernel was built with.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${PERISCOPE_VM_CACHE:-$HOME/.cache/periscope/vm}
ME=v4l2loopback.sh
log() { echo "$ME: $*" >&2; }
fatal() { log "$*"; exit 1; }
# shellcheck source=../../scripts/lib.sh
. "$HERE/../../scripts/lib.sh"


KVER=${1:-$(bench_kernel_version)}
[ -n "$KVER" ] || fatal "cannot tell the bench kernel's version (run apt-get update, or pass it)"
OUT=$CACHE/v4l2loopback/$KVER
KEY=$(sha256sum < "${BASH_SOURCE[0]}" | cut -c1-16)
cached() { [ -f "$OUT/v4l2loopback.ko" ] && [ "$(cat "$OUT/key" 2>/dev/null)" = "$KEY" ]; }
if cached; then echo "$OUT/v4l2loopback.ko"; exit 0; fi

mkdir -p "$CACHE/v4l2loopback"
exec 9> "$CACHE/v4l2loopback/.lock"
flock 9
if cached; then echo "$OUT/v4l2loopback.ko"; exit 0; fi
log "building v4l2loopback for $KVER"

work=$(mktemp -d "$CACHE/v4l2loopback/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
bench_kernel_headers "$work" "$KVER" || fatal "no build tree for $KVER"
kdir=$KHDR_DIR cc=$KHDR_CC ver=$KHDR_VER
log "downloading v4l2loopback-dkms"
bench_download "$work/dl" v4l2loopback-dkms || fatal "apt-get download v4l2loopback-dkms failed"
dpkg-deb -x "$work"/dl/v4l2loopback-dkms_*.deb "$work/root"
src=$(find "$work/root/usr/src" -maxdepth 1 -name 'v4l2loopback-*' | sort -V | tail -n 1)
[ -n "$src" ] && [ -f "$src/v4l2loopback.c" ] || fatal "no v4l2loopback source in v4l2loopback-dkms"

log "compiling $(basename "$src") for $KVER with $cc"
make -C "$kdir" M="$src" CC="$cc" modules >&2 || fatal "make failed"
vermagic=$(modinfo -F vermagic "$src/v4l2loopback.ko" 2>/dev/null || true)
case $vermagic in "$KVER "*) ;; *) fatal "built for '$vermagic', not $KVER";; esac
mkdir -p "$OUT"
# No debug info: it only makes every guest's initramfs bigger.
strip --strip-debug -o "$OUT/v4l2loopback.ko.tmp" "$src/v4l2loopback.ko"
mv "$OUT/v4l2loopback.ko.tmp" "$OUT/v4l2loopback.ko"
echo "$(basename "$src") $ver" > "$OUT/source"
echo "$KEY" > "$OUT/key"
log "built $OUT/v4l2loopback.ko ($(basename "$src"), headers $ver)"
echo "$OUT/v4l2loopback.ko"
