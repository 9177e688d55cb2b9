#!/bin/bash
# tests/vm/gpio-sim.sh: gpio-sim.ko (the kernel's configfs GPIO simulator) for the kernel
# tests/vm/run.sh boots, built out of tree from Debian's own kernel source (linux-source-X.Y)
# against that kernel's headers. Debian's kernel has GPIOLIB=y, GPIO_CDEV=y, GPIO_SYSFS=y and
# CONFIGFS_FS=m, but GPIO_SIM is not set.
#
#   tests/vm/gpio-sim.sh [KERNEL_VERSION]      # e.g. 6.1.0-56-amd64
#
# Prints the path of the module on stdout (everything else goes to stderr). Cached in
# $PERISCOPE_VM_CACHE/gpio-sim/<kver>/ beside run.sh's kernel cache, keyed by the kernel version
# and this script, so a warm run builds nothing. The kernel version is found as run.sh finds it:
# PERISCOPE_VM_KERNEL_PKG, else what linux-image-amd64 depends on, else the newest kernel in the
# cache (offline).
#
# Cold: `apt-get download` of linux-headers-<kver> (arch part), the -common tree and the
# linux-kbuild-X.Y it depends on (~14 MB) and linux-source-X.Y of the same Debian version
# (~140 MB), into a scratch directory (nothing is installed but the compiler and make, through
# scripts/lib.sh). Only three members are taken out of the source tarball (streamed, ~10 s of
# xz): drivers/gpio/gpio-sim.c, drivers/gpio/gpiolib.h (gpiolib's private header, which
# gpio-sim.c includes for struct gpio_desc and its FLAG_* bits; not in the headers package) and
# kernel/irq/irq_sim.c. Then `make -C <headers> M=<dir> modules` with the compiler the kernel
# was built with.
#
# The missing symbols, and the fix: GPIO_SIM `select`s IRQ_SIM (the simulated interrupt domain
# in kernel/irq/irq_sim.c, a bool: built in or absent). Debian's kernel does not set IRQ_SIM
# (nothing it enables selects it), so vmlinux neither has nor exports irq_domain_create_sim(),
# irq_domain_remove_sim() and devm_irq_domain_create_sim(), and a lone gpio-sim.ko fails
# modpost: `"devm_irq_domain_create_sim" [gpio-sim.ko] undefined!` (insmod would say "Unknown
# symbol"). Enabling IRQ_SIM means rebuilding the kernel; the smallest fix is to link irq_sim.c
# into the module itself (gpio-sim.ko = gpio-sim.c renamed gpio-sim-main.c + irq_sim.c), with
# two edits made by sed:
# - irq_sim.c's work handler calls `handle_simple_irq(irq_to_desc(irqnum))`, and irq_to_desc()
#   is not exported to modules (built-in code only). It becomes `generic_handle_irq(irqnum)`
#   (exported GPL), which looks the descriptor up and calls its flow handler, which is
#   handle_simple_irq: irq_sim's map callback installs it on every interrupt of its domain.
#   Same call, plus a NULL check. Everything else irq_sim.c needs (irq_work_queue,
#   __irq_domain_add, irq_set_chip_data, irq_modify_status...) is exported GPL, and gpio-sim is GPL.
# - its three EXPORT_SYMBOL_GPL lines are dropped, so the module exports nothing that another
#   module built the same way (gpio-mockup) could clash with.
# (A kernel that exports devm_irq_domain_create_sim, per Module.symvers, gets gpio-sim.c alone.)
# Everything gpio-sim.c itself uses (gpiod_add_hogs, gpiod_remove_hogs, __irq_resolve_mapping,
# devm_gpiochip_add_data_with_key, configfs_*, software nodes...) is exported; modpost errors
# out on an undefined symbol, so a build that succeeds loads. The module is unsigned: the
# bench's kernel (no lockdown) loads it and taints itself (E), which dmesg reports once.
#
# In the guest it needs configfs (a module, in run.sh's image as a dependency of libcomposite);
# see cases/gpiosim-lib.sh (gpiosim_load) and the README's "gpio-sim" section.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${PERISCOPE_VM_CACHE:-$HOME/.cache/periscope/vm}
ME=gpio-sim.sh
log() { echo "$ME: $*" >&2; }
fatal() { log "$*"; exit 1; }
# shellcheck source=../../scripts/lib.sh
. "$HERE/../../scripts/lib.sh"


KVER=${1:-$(bench_kernel_version)}
[ -n "$KVER" ] || fatal "cannot tell the bench kernel's version (run apt-get update, or pass it)"
OUT=$CACHE/gpio-sim/$KVER
KEY=$(sha256sum < "${BASH_SOURCE[0]}" | cut -c1-16)
cached() { [ -f "$OUT/gpio-sim.ko" ] && [ "$(cat "$OUT/key" 2>/dev/null)" = "$KEY" ]; }
if cached; then echo "$OUT/gpio-sim.ko"; exit 0; fi

mkdir -p "$CACHE/gpio-sim"
exec 9> "$CACHE/gpio-sim/.lock"
flock 9
if cached; then echo "$OUT/gpio-sim.ko"; exit 0; fi
log "building gpio-sim for $KVER"

work=$(mktemp -d "$CACHE/gpio-sim/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
bench_kernel_headers "$work" "$KVER" || fatal "no build tree for $KVER"
kdir=$KHDR_DIR cc=$KHDR_CC ver=$KHDR_VER
# linux-source-X.Y is built from the same Debian source package, hence has the same version.
series=$(sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p' <<<"$KVER")
srcpkg=linux-source-$series
command -v xz > /dev/null || apt_install xz-utils || fatal "cannot install xz-utils"
log "downloading $srcpkg (=$ver)"
bench_download "$work/dl" "$srcpkg=$ver" || fatal "apt-get download $srcpkg=$ver failed"

# The source tarball, streamed out of the .deb: only the members gpio-sim needs are written.
log "extracting gpio-sim.c, gpiolib.h and irq_sim.c from $srcpkg"
top=$srcpkg
members=("$top/drivers/gpio/gpio-sim.c" "$top/drivers/gpio/gpiolib.h" "$top/kernel/irq/irq_sim.c")
dpkg-deb --fsys-tarfile "$work"/dl/"$srcpkg"_*.deb |
  tar -xO "./usr/src/$srcpkg.tar.xz" |
  tar -xJ -C "$work" -f - "${members[@]}" || fatal "cannot extract ${members[*]} from $srcpkg"
s=$work/src
cp "$work/$top/drivers/gpio/gpiolib.h" "$s/"

if grep -q '[[:space:]]devm_irq_domain_create_sim[[:space:]]' "$kdir/Module.symvers"; then
  log "the kernel exports devm_irq_domain_create_sim (IRQ_SIM=y): gpio-sim.c alone"
  cp "$work/$top/drivers/gpio/gpio-sim.c" "$s/gpio-sim.c"
  echo 'obj-m := gpio-sim.o' > "$s/Kbuild"
  bundled=""
else
  log "the kernel has no IRQ_SIM: linking irq_sim.c into gpio-sim.ko"
  cp "$work/$top/drivers/gpio/gpio-sim.c" "$s/gpio-sim-main.c"
  sed -e '/^EXPORT_SYMBOL_GPL(.*);$/d' \
      -e 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
      "$work/$top/kernel/irq/irq_sim.c" > "$s/irq_sim.c"
  ! grep -q 'EXPORT_SYMBOL\|irq_to_desc' "$s/irq_sim.c" ||
    fatal "irq_sim.c is not what this script expects (exports or irq_to_desc left): update the sed"
  printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' > "$s/Kbuild"
  bundled=" + irq_sim.c"
fi

log "compiling gpio-sim$bundled ($srcpkg $ver) for $KVER with $cc"
make -C "$kdir" M="$s" CC="$cc" modules >&2 || fatal "make failed"
vermagic=$(modinfo -F vermagic "$s/gpio-sim.ko" 2>/dev/null || true)
case $vermagic in "$KVER "*) ;; *) fatal "built for '$vermagic', not $KVER";; esac
mkdir -p "$OUT"
# No debug info: it only makes every guest's initramfs bigger.
strip --strip-debug -o "$OUT/gpio-sim.ko.tmp" "$s/gpio-sim.ko"
mv "$OUT/gpio-sim.ko.tmp" "$OUT/gpio-sim.ko"
echo "gpio-sim.c$bundled $srcpkg $ver" > "$OUT/source"
echo "$KEY" > "$OUT/key"
log "built $OUT/gpio-sim.ko (depends: $(modinfo -F depends "$OUT/gpio-sim.ko"))"
echo "$OUT/gpio-sim.ko"
