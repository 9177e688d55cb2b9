#!/bin/bash
# tests/vm/run.sh: periscope's kernel-driver test bench.
#
# Boots Debian's stock kernel under QEMU (TCG) from an initramfs holding busybox and the
# drivers the appliance talks to (vivid, dummy_hcd + libcomposite gadgets, usb_f_hid, mass
# storage, ACM, ECM/NCM, uhid...), runs a guest script as init's payload, streams the guest
# console to stdout and exits with the guest script's exit status. See tests/vm/README.md.
#
#   tests/vm/run.sh [options] -- GUEST_SCRIPT [ARGS...]
#   tests/vm/run.sh [options] -- -c 'guest shell commands' [ARGS...]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST=$HERE/guest
CACHE=${PERISCOPE_VM_CACHE:-$HOME/.cache/periscope/vm}
ME=run.sh

usage() {
  cat <<'EOF'
usage: tests/vm/run.sh [options] -- GUEST_SCRIPT [ARGS...]
       tests/vm/run.sh [options] -- -c 'guest shell commands' [ARGS...]
The guest script runs under busybox sh as init's payload (cwd /root; `. /vm/lib.sh` gives the
helpers). GUEST_SCRIPT is a host file, or a guest path brought in by --file. Exit status: the
guest script's; 124 timeout; 125 the guest died without reporting one; 2 usage; 130/143 on
SIGINT/SIGTERM.
options:
  --port [tcp:|udp:]HOST:GUEST   forward 127.0.0.1:HOST on the host to the guest's GUEST port
  --port [tcp:|udp:]PORT[-LAST]  the same port (or range) on both sides
  --file SRC[:DEST]              copy a file or directory into the guest (DEST defaults to SRC's
                                 absolute path); ELF files bring their libraries and loader
  --env NAME=VALUE               exported to the guest script
  --modopt 'MODULE OPTIONS'      module options, replacing the default for MODULE
                                 (default: vivid n_devs=1 node_types=0x1 num_inputs=1 input_types=0x3)
  --module NAME                  also load NAME at boot
  --mem MB (1024)  --smp N (1)  --timeout SECONDS (300)
  --keep                         keep the run directory (initrd, console.log)
  -q, --quiet                    no "vm:" lines from init
environment: PERISCOPE_VM_CACHE (default ~/.cache/periscope/vm), PERISCOPE_VM_KERNEL_PKG
(e.g. linux-image-6.1.0-56-amd64; default: what linux-image-amd64 depends on).
EOF
}

log() { echo "$ME: $*" >&2; }
die() { log "$*"; exit 2; }                    # usage and setup errors
fatal() { log "$*"; exit 125; }                # the bench itself cannot run

# Modules in the image (with their dependencies), and those init loads at boot. Function
# drivers (usb_f_*) load on demand when configfs creates the function; host-side drivers
# (cdc_acm, usb_storage, sd_mod, cdc_ether...) load from the uevent helper on enumeration.
IMAGE_MODULES="vivid dummy_hcd libcomposite configfs usb_f_hid usb_f_mass_storage usb_f_acm
  usb_f_serial usb_f_obex usb_f_ecm usb_f_ecm_subset usb_f_ncm usb_f_eem usb_f_rndis u_ether usb_f_fs
  usbhid hid_generic evdev uhid uinput cdc_acm usb_storage uas sd_mod sr_mod cdc_ether cdc_ncm
  cdc_eem rndis_host usbmon loop isofs vfat nls_ascii nls_cp437 nls_iso8859_1 nls_utf8
  virtio_pci virtio_net virtio_rng virtio_console 9p 9pnet_virtio"
BOOT_MODULES="vivid dummy_hcd libcomposite usbhid hid_generic evdev uhid"
DEFAULT_MODOPTS=("vivid n_devs=1 node_types=0x1 num_inputs=1 input_types=0x3")

# ------------------------------------------------------------------------------ options
PORTS=() FILES=() ENVS=() MODOPTS=() EXTRA_MODULES=""
MEM=1024 SMP=1 TIMEOUT=300 KEEP=0 QUIET=0

# need_arg OPT NARGS: an option that takes a value must have one.
need_arg() { [ "$2" -ge 2 ] || { usage >&2; die "$1 needs a value"; }; }

while [ $# -gt 0 ]; do
  case $1 in
    --port) need_arg "$1" $#; PORTS+=("$2"); shift 2;;
    --file) need_arg "$1" $#; FILES+=("$2"); shift 2;;
    --env) need_arg "$1" $#; [[ $2 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "bad --env '$2' (NAME=VALUE)"
           ENVS+=("$2"); shift 2;;
    --modopt) need_arg "$1" $#; MODOPTS+=("$2"); shift 2;;
    --module) need_arg "$1" $#; EXTRA_MODULES="$EXTRA_MODULES $2"; shift 2;;
    --mem) need_arg "$1" $#; MEM=$2; shift 2;;
    --smp) need_arg "$1" $#; SMP=$2; shift 2;;
    --timeout) need_arg "$1" $#; TIMEOUT=$2; shift 2;;
    --keep) KEEP=1; shift;;
    -q|--quiet) QUIET=1; shift;;
    -h|--help) usage; exit 0;;
    --) shift; break;;
    *) usage >&2; die "unknown option: $1";;
  esac
done
for v in MEM SMP TIMEOUT; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer"; done
[ $# -ge 1 ] || { usage >&2; die "missing GUEST_SCRIPT (after --)"; }
PAYLOAD_TEXT="" PAYLOAD_HOST="" PAYLOAD_GUEST="" PAYLOAD_ELF=0
if [ "$1" = -c ]; then
  [ $# -ge 2 ] || die "-c needs commands"
  PAYLOAD_TEXT=$2; shift 2
else
  PAYLOAD_GUEST=$1; shift
fi
ARGS=("$@")

# ------------------------------------------------------------------------------ host tools
# as_root CMD...: run CMD as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo -E "$@"
  else fatal "need root or sudo to run: $*"; fi
}

APT_UPDATED=0
# apt_update: `apt-get update`, at most once per run.
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  APT_UPDATED=1
  as_root apt-get -o DPkg::Lock::Timeout=900 -q update >&2
}

# apt_install PKG...: install Debian packages; updates the package lists first if one of the
# packages has no candidate, and retries once (after an update) if the install fails.
apt_install() {
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q
             --no-install-recommends install "$@") p
  log "installing $*"
  for p in "$@"; do
    apt-cache policy "$p" 2>/dev/null | grep 'Candidate: [0-9]' > /dev/null || { apt_update || true; break; }
  done
  as_root "${apt[@]}" >&2 && return 0
  log "apt-get install failed; updating and retrying once"
  APT_UPDATED=0; apt_update || true
  as_root "${apt[@]}" >&2 || fatal "cannot install $*"
}

# host_deps: the tools run.sh needs on the host.
host_deps() {
  export PATH="$PATH:/usr/sbin:/sbin"
  local miss=()
  # qboot.rom (the fast firmware for the PVH boot) comes with qemu-system-x86's data package.
  command -v qemu-system-x86_64 >/dev/null && [ -f /usr/share/qemu/qboot.rom ] || miss+=(qemu-system-x86)
  # busybox-static: Debian's dynamic busybox lacks applets the guest needs (uevent, modprobe).
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -x uevent > /dev/null &&
    ! ldd /bin/busybox >/dev/null 2>&1 || miss+=(busybox-static)
  command -v cpio >/dev/null || miss+=(cpio)
  command -v depmod >/dev/null || miss+=(kmod)
  command -v xz >/dev/null || miss+=(xz-utils)
  [ ${#miss[@]} -eq 0 ] || apt_install "${miss[@]}"
}

# ------------------------------------------------------------------------------ kernel
# is_elf FILE: true if FILE starts with the ELF magic (no fork).
is_elf() {
  local m=""
  [ -f "$1" ] && [ -r "$1" ] || return 1
  LC_ALL=C IFS= read -r -n 4 m < "$1" 2>/dev/null || true
  [ "$m" = $'\177ELF' ]
}

# extract_vmlinux BZIMAGE OUT: the uncompressed ELF vmlinux inside a bzImage. QEMU boots it
# through its PVH entry with qboot, which skips firmware and in-guest decompression.
extract_vmlinux() {
  local img=$1 out=$2 spec magic cmd off
  for spec in 'xz|\xFD7zXZ\x00|xz -dc' 'gzip|\x1F\x8B\x08\x00|gzip -dc' 'zstd|\x28\xB5\x2F\xFD|zstd -dc'; do
    IFS='|' read -r _ magic cmd <<<"$spec"
    command -v "${cmd%% *}" >/dev/null || continue
    for off in $( { LC_ALL=C grep -abo -P "$magic" "$img" 2>/dev/null || true; } | cut -d: -f1 | sed -n 1,5p); do
      tail -c +$((off + 1)) "$img" | $cmd > "$out.tmp" 2>/dev/null || true
      if is_elf "$out.tmp"; then mv "$out.tmp" "$out"; return 0; fi
    done
  done
  rm -f "$out.tmp"
  return 1
}

# kernel_pkg: the versioned kernel package linux-image-amd64 depends on. apt-cache takes
# ~0.6 s, so the answer is remembered until the apt package lists change.
kernel_pkg() {
  local stamp memo=$CACHE/kernel-pkg pkg
  stamp=$(stat -c '%n %Y %s' /var/lib/apt/lists/*Packages* 2>/dev/null | cksum | cut -d' ' -f1)
  if [ -f "$memo" ] && [ "$(sed -n 1p "$memo")" = "$stamp" ]; then sed -n 2p "$memo"; return 0; fi
  pkg=$({ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -z "$pkg" ] || printf '%s\n%s\n' "$stamp" "$pkg" > "$memo"
  echo "$pkg"
}

# kernel_setup: sets KVER and KDIR; KDIR holds linux-image.deb (the modules' source), vmlinuz
# and the extracted vmlinux. Downloads and extracts what is missing.
kernel_setup() {
  local pkg=${PERISCOPE_VM_KERNEL_PKG:-}
  if [ -z "$pkg" ]; then
    pkg=$(kernel_pkg)
    [ -n "$pkg" ] || { apt_update || true; pkg=$(kernel_pkg); }
    if [ -z "$pkg" ]; then   # offline: the newest kernel already cached
      pkg=$( { ls -d "$CACHE"/kernel/*/.ok 2>/dev/null || true; } | sort -V | tail -n 1 |
             sed 's|.*/kernel/\([^/]*\)/\.ok$|linux-image-\1|')
      [ -n "$pkg" ] || fatal "cannot resolve linux-image-amd64 (no apt lists, nothing cached)"
      log "offline: using the cached $pkg"
    fi
  fi
  KVER=${pkg#linux-image-}
  KDIR=$CACHE/kernel/$KVER
  [ -f "$KDIR/.ok" ] && [ -f "$KDIR/linux-image.deb" ] && return 0
  log "fetching $pkg"
  rm -rf "$KDIR"; mkdir -p "$KDIR/dl"
  local sandbox=(); [ "$(id -u)" != 0 ] || sandbox=(-o APT::Sandbox::User=root)   # no "unsandboxed" warning
  (cd "$KDIR/dl" && apt-get -q "${sandbox[@]}" download "$pkg" >&2) ||
    { apt_update || true; (cd "$KDIR/dl" && apt-get -q "${sandbox[@]}" download "$pkg" >&2); } ||
    fatal "apt-get download $pkg failed"
  mv "$KDIR"/dl/*.deb "$KDIR/linux-image.deb"; rmdir "$KDIR/dl"
  dpkg-deb --fsys-tarfile "$KDIR/linux-image.deb" | tar -xO "./boot/vmlinuz-$KVER" > "$KDIR/vmlinuz" ||
    fatal "no boot/vmlinuz-$KVER in $pkg"
  extract_vmlinux "$KDIR/vmlinuz" "$KDIR/vmlinux" || log "no vmlinux in the bzImage; booting it (slower)"
  touch "$KDIR/.ok"
}

# ------------------------------------------------------------------------------ initramfs
# add_elf_deps ROOT ELF: copy the shared libraries ldd resolves for ELF, and the dynamic loader,
# to the same paths under ROOT; libraries from non-system directories also go to /usr/local/lib
# (on the guest's LD_LIBRARY_PATH).
add_elf_deps() {
  local root=$1 f=$2 lib
  while read -r lib; do
    case $lib in
      MISSING:*) log "warning: $f needs ${lib#MISSING:}, which ldd cannot find"; continue;;
    esac
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    case $(dirname "$lib") in
      /lib|/lib64|/usr/lib|/usr/lib64|/lib/x86_64-linux-gnu|/usr/lib/x86_64-linux-gnu) ;;
      *) mkdir -p "$root/usr/local/lib"; cp -L "$lib" "$root/usr/local/lib/";;
    esac
  done < <({ ldd "$f" 2>/dev/null || true; } |
           awk '/=> not found/ { print "MISSING:" $1; next }
                /=> \// { print $3; next }
                /^[ \t]*\// { print $1 }')
}

# add_path ROOT SRC DEST: copy a file or a directory (recursively) to ROOT/DEST; ELF files
# bring their libraries.
add_path() {
  local root=$1 src=$2 dest=$3 f
  [ -e "$src" ] || die "--file: no such file or directory: $src"
  case $dest in /*) ;; *) dest=/$dest;; esac
  if [ -d "$src" ]; then
    mkdir -p "$root$dest"; cp -a "$src/." "$root$dest/"
    while IFS= read -r -d '' f; do
      if is_elf "$f"; then add_elf_deps "$root" "$f"; fi
    done < <(find "$src" -type f -print0)
  else
    mkdir -p "$root$(dirname "$dest")"; cp -L "$src" "$root$dest"
    if is_elf "$src"; then add_elf_deps "$root" "$src"; fi
  fi
  return 0
}

# mkcpio DIR OUT: an uncompressed newc archive of DIR, owned by root (no decompression at boot).
mkcpio() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$2"; }

# stage_modules STAGE MODROOT: IMAGE_MODULES and their dependencies from MODROOT (a depmod'ed
# tree) into STAGE/lib/modules/KVER, with a fresh modules.dep.
stage_modules() {
  local stage=$1 modroot=$2 m f rel mods
  mods=$stage.mods; : > "$mods"
  for m in $IMAGE_MODULES; do
    modprobe -d "$modroot" -S "$KVER" --show-depends "$m" >> "$mods" 2>/dev/null ||
      log "note: no module $m in $KVER"
  done
  awk '$1 == "insmod" { print $2 }' "$mods" | sort -u | while read -r f; do
    rel=${f#"$modroot"/lib/modules/"$KVER"/}
    mkdir -p "$stage/lib/modules/$KVER/$(dirname "$rel")"
    cp "$f" "$stage/lib/modules/$KVER/$rel"
  done
  rm -f "$mods"
  for f in modules.builtin modules.builtin.modinfo modules.order; do
    [ -f "$modroot/lib/modules/$KVER/$f" ] && cp "$modroot/lib/modules/$KVER/$f" "$stage/lib/modules/$KVER/"
  done
  depmod -b "$stage" "$KVER"
}

# stage_system STAGE: static busybox with all its applets, and the files glibc programs need.
stage_system() {
  local stage=$1 f
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib,proc,sys,dev,tmp,run,root,mnt,etc/modprobe.d,var/log,vm}
  chmod 1777 "$stage/tmp"
  cp /bin/busybox "$stage/bin/busybox"
  /bin/busybox --list-full | while IFS= read -r f; do
    [ -e "$stage/$f" ] || ln -s /bin/busybox "$stage/$f"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$stage/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$stage/etc/group"
  printf '127.0.0.1 localhost periscope-vm\n::1 localhost ip6-localhost ip6-loopback\n' > "$stage/etc/hosts"
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nservices: files\n' > "$stage/etc/nsswitch.conf"
  printf 'nameserver 127.0.0.1\n' > "$stage/etc/resolv.conf"
  echo periscope-vm > "$stage/etc/hostname"
}

# base_key: what the base image depends on (kernel, module list, busybox, this build code).
base_key() {
  { echo "$KVER $IMAGE_MODULES"; sha256sum < /bin/busybox
    declare -f stage_modules stage_system build_base mkcpio; } | sha256sum | cut -c1-12
}

# build_base: BASE = CACHE/base/KVER-KEY.cpio (busybox + modules + depmod), built if missing.
# The caller holds the cache lock.
build_base() {
  local key stage x
  key=$(base_key)
  BASE=$CACHE/base/$KVER-$key.cpio
  [ -f "$BASE" ] && return 0
  log "building the base initramfs for $KVER ($key)"
  mkdir -p "$CACHE/base"
  stage=$CACHE/base/stage.$$ x=$CACHE/base/deb.$$
  rm -rf "$stage" "$x"; mkdir -p "$stage" "$x"
  dpkg-deb --fsys-tarfile "$KDIR/linux-image.deb" | tar -x -C "$x" ./lib/modules ||
    fatal "cannot extract the modules of $KVER"
  depmod -b "$x" "$KVER"
  stage_system "$stage"
  stage_modules "$stage" "$x"
  rm -rf "$x"
  rm -f "$CACHE/base/$KVER"-*.cpio   # older bases of this kernel
  mkcpio "$stage" "$BASE.tmp" && mv "$BASE.tmp" "$BASE"
  rm -rf "$stage"
}

# host_addrs: the host's own global IPv4 addresses (the guest routes replies to them via slirp).
host_addrs() {
  if command -v ip >/dev/null; then
    ip -4 -o addr show scope global 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4 }'
  else
    hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' || true
  fi
}

# shq STRING: STRING quoted for sh.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# file_spec SPEC: sets SRC and DEST of a --file SRC[:DEST].
file_spec() {
  if [[ $1 == *:* ]]; then SRC=${1%:*} DEST=${1##*:}; else SRC=$1 DEST=$(realpath -s "$1"); fi
  case $DEST in /*) ;; *) DEST=/$DEST;; esac
  DEST=${DEST%/}; [ -n "$DEST" ] || DEST=/
}

# resolve_payload: where the guest script comes from. A path inside a --file destination is a
# guest path; otherwise it must be a host file, which goes to /vm/payload.
resolve_payload() {
  local spec host=""
  [ -n "$PAYLOAD_GUEST" ] || return 0
  for spec in "${FILES[@]+"${FILES[@]}"}"; do
    file_spec "$spec"
    if [ "$PAYLOAD_GUEST" = "$DEST" ]; then host=$SRC
    elif [[ $PAYLOAD_GUEST == "$DEST"/* ]] && [ -d "$SRC" ]; then host=$SRC/${PAYLOAD_GUEST#"$DEST"/}
    else continue; fi
    [ -f "$host" ] || die "guest script $PAYLOAD_GUEST: no $host on the host"
    PAYLOAD_ELF=0; if is_elf "$host"; then PAYLOAD_ELF=1; fi
    return 0
  done
  [ -f "$PAYLOAD_GUEST" ] || die "no such guest script: $PAYLOAD_GUEST (a host file, or a path under a --file DEST)"
  PAYLOAD_HOST=$PAYLOAD_GUEST PAYLOAD_GUEST=/vm/payload
  PAYLOAD_ELF=0; if is_elf "$PAYLOAD_HOST"; then PAYLOAD_ELF=1; fi
}

# write_config FILE: the guest's /vm/config, sourced by init.
write_config() {
  local spec a
  {
    echo "VM_MODULES=$(shq "$BOOT_MODULES$EXTRA_MODULES")"
    echo "VM_HOST_ADDRS=$(shq "$(host_addrs | tr '\n' ' ')")"
    echo "VM_QUIET=$QUIET"
    echo "VM_PAYLOAD=$(shq "${PAYLOAD_GUEST:-/vm/payload}") VM_PAYLOAD_ELF=$PAYLOAD_ELF"
    for spec in "${ENVS[@]+"${ENVS[@]}"}"; do
      echo "export ${spec%%=*}=$(shq "${spec#*=}")"
    done
    printf 'set --'
    for a in "${ARGS[@]+"${ARGS[@]}"}"; do printf ' %s' "$(shq "$a")"; done
    echo
  } > "$1"
}

# write_modprobe_conf FILE: default module options unless --modopt replaces them, then --modopt.
write_modprobe_conf() {
  local o m
  : > "$1"
  for o in "${DEFAULT_MODOPTS[@]}"; do
    m=${o%% *}
    printf '%s\n' "${MODOPTS[@]+"${MODOPTS[@]}"}" | grep "^$m\( \|$\)" > /dev/null || echo "options $o" >> "$1"
  done
  for o in "${MODOPTS[@]+"${MODOPTS[@]}"}"; do echo "options $o" >> "$1"; done
}

# build_run: RUN/run.cpio (init, lib.sh, hotplug, payload, config, --file additions) appended
# to the copy of the base in RUN/initrd. Editing guest/* never rebuilds the base.
build_run() {
  local stage=$RUN/root spec
  mkdir -p "$stage/vm" "$stage/etc/modprobe.d"
  cp "$GUEST/init" "$stage/init"; chmod 755 "$stage/init"
  cp "$GUEST/lib.sh" "$stage/vm/lib.sh"
  cp "$GUEST/hotplug" "$stage/vm/hotplug"; chmod 755 "$stage/vm/hotplug"
  for spec in "${FILES[@]+"${FILES[@]}"}"; do
    file_spec "$spec"
    add_path "$stage" "$SRC" "$DEST"
  done
  if [ -n "$PAYLOAD_TEXT" ]; then printf '%s\n' "$PAYLOAD_TEXT" > "$stage/vm/payload"
  elif [ -n "$PAYLOAD_HOST" ]; then cp -L "$PAYLOAD_HOST" "$stage/vm/payload"; fi
  chmod 755 "$stage/vm/payload" 2>/dev/null || true
  write_config "$stage/vm/config"
  write_modprobe_conf "$stage/etc/modprobe.d/vm.conf"
  mkcpio "$stage" "$RUN/run.cpio"
  cat "$RUN/run.cpio" >> "$RUN/initrd"
}

# ------------------------------------------------------------------------------ QEMU
# hostfwd_rules: -netdev user hostfwd=... rules of the --port options (on 127.0.0.1 only).
hostfwd_rules() {
  local spec proto p first last q out=""
  for spec in "${PORTS[@]+"${PORTS[@]}"}"; do
    proto=tcp p=$spec
    case $p in tcp:*|udp:*) proto=${p%%:*} p=${p#*:};; esac
    if [[ $p =~ ^([0-9]+):([0-9]+)$ ]]; then
      out="$out,hostfwd=$proto:127.0.0.1:${BASH_REMATCH[1]}-:${BASH_REMATCH[2]}"
    elif [[ $p =~ ^([0-9]+)(-([0-9]+))?$ ]]; then
      first=${BASH_REMATCH[1]} last=${BASH_REMATCH[3]:-${BASH_REMATCH[1]}}
      [ "$last" -ge "$first" ] || die "bad --port range $spec"
      for ((q = first; q <= last; q++)); do out="$out,hostfwd=$proto:127.0.0.1:$q-:$q"; done
    else
      die "bad --port '$spec' ([tcp:|udp:]HOST:GUEST or [tcp:|udp:]PORT[-LAST])"
    fi
  done
  printf '%s' "$out"
}

# qemu_cmd: QEMU's command line in the array QEMU.
# shellcheck disable=SC2054  # the commas are QEMU's
qemu_cmd() {
  local bios=/usr/share/qemu/qboot.rom
  QEMU=(qemu-system-x86_64 -accel tcg -cpu max -m "$MEM" -smp "$SMP"
        -nodefaults -no-user-config -display none -vga none -no-reboot
        -name periscope-vm -pidfile "$RUN/qemu.pid"
        -chardev stdio,id=con,signal=off -serial chardev:con       # ttyS0: the console
        -serial "file:$RUN/status"                                  # ttyS1: the exit status
        -monitor none -initrd "$RUN/initrd" -device virtio-rng-pci)
  if [ -f "$KDIR/vmlinux" ]; then QEMU+=(-bios "$bios" -kernel "$KDIR/vmlinux")
  else QEMU+=(-kernel "$KDIR/vmlinuz"); fi
  QEMU+=(-append "console=ttyS0 quiet panic=-1 oops=panic")
  # Not restrict=on: libslirp then drops all guest UDP, replies to forwarded ports included.
  # The guest stays off the outside by having no default route and no DNS (guest/init).
  QEMU+=(-netdev "user,id=n0$(hostfwd_rules)" -device virtio-net-pci,netdev=n0,romfile=)
}

# stop_qemu: stop our own QEMU (by the pid it wrote, checked against its command line).
stop_qemu() {
  local q=${QEMU_PID:-} i
  [ -n "$q" ] || q=$(cat "$RUN/qemu.pid" 2>/dev/null || true)
  [ -n "$q" ] && grep -qF "$RUN/initrd" "/proc/$q/cmdline" 2>/dev/null || return 0
  kill "$q" 2>/dev/null || return 0
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    kill -0 "$q" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$q" 2>/dev/null || true
}

# cleanup: on every exit. No QEMU, watchdog or console filter of ours survives run.sh.
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM HUP
  [ -n "${RUN:-}" ] || exit "$rc"
  stop_qemu
  if [ -n "${WATCHDOG_PID:-}" ]; then kill "$WATCHDOG_PID" 2>/dev/null; fi
  if [ -n "${FILTER_PID:-}" ]; then kill "$FILTER_PID" 2>/dev/null; wait "$FILTER_PID" 2>/dev/null; fi
  if [ "$KEEP" = 1 ]; then log "run directory kept: $RUN"; else rm -rf "$RUN"; fi
  exit "$rc"
}

# start_watchdog PID: start (WATCHDOG_PID) a background watchdog that sends PID SIGTERM after
# TIMEOUT seconds (marking RUN/timed-out) and SIGKILL 10 s later. Its sleep dies with it
# (SIGTERM), it holds none of run.sh's pipes, and it outlives a SIGKILLed run.sh, so QEMU still
# stops at the timeout.
start_watchdog() {
  (
    set +e; s=""
    trap '[ -z "$s" ] || { kill "$s"; wait "$s"; } 2>/dev/null; exit 0' TERM
    sleep "$TIMEOUT" & s=$!; wait "$s"; s=""
    touch "$RUN/timed-out"; kill "$1" 2>/dev/null || exit 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.5 & s=$!; wait "$s"; s=""; i=$((i + 1)); done
    kill -9 "$1" 2>/dev/null
  ) < /dev/null > /dev/null 2>&1 &
  WATCHDOG_PID=$!
}

# run_qemu: boot, stream the console (CRs stripped) to stdout and RUN/console.log, enforce the
# timeout; sets QEMU_STATUS and TIMED_OUT.
run_qemu() {
  mkfifo "$RUN/console"
  sed -u 's/\r$//' < "$RUN/console" | tee "$RUN/console.log" &
  FILTER_PID=$!
  "${QEMU[@]}" < /dev/null > "$RUN/console" 2> "$RUN/qemu.err" &
  QEMU_PID=$!
  start_watchdog "$QEMU_PID"
  QEMU_STATUS=0
  wait "$QEMU_PID" || QEMU_STATUS=$?
  kill "$WATCHDOG_PID" 2>/dev/null || true
  wait "$WATCHDOG_PID" 2>/dev/null || true
  WATCHDOG_PID=""
  wait "$FILTER_PID" 2>/dev/null || true   # the console is complete
  FILTER_PID=""
  TIMED_OUT=0; [ ! -e "$RUN/timed-out" ] || TIMED_OUT=1
}

# ------------------------------------------------------------------------------ main
main() {
  local rc
  resolve_payload
  host_deps
  mkdir -p "$CACHE/runs"
  # Run directories left by a SIGKILLed run.sh (or --keep) go after a day.
  find "$CACHE/runs" -mindepth 1 -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
  RUN=$(mktemp -d "$CACHE/runs/run.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  # The kernel, the base image and its copy into this run are done by one run at a time.
  exec 9> "$CACHE/.lock"
  flock 9
  kernel_setup
  build_base
  cp "$BASE" "$RUN/initrd"
  flock -u 9; exec 9>&-
  build_run
  qemu_cmd
  run_qemu
  # QEMU's own messages, less the one about the signal run.sh sent it.
  [ ! -s "$RUN/qemu.err" ] || sed "/terminating on signal/d; s/^/$ME: qemu: /" "$RUN/qemu.err" >&2
  rc=$(tr -cd '0-9\n' 2>/dev/null < "$RUN/status" | sed -n '/./{p;q;}' || true)
  if [ -n "$rc" ]; then exit "$rc"; fi
  if [ "$TIMED_OUT" = 1 ]; then log "guest timed out after ${TIMEOUT}s"; exit 124; fi
  if [ "$QEMU_STATUS" != 0 ] && [ ! -s "$RUN/console.log" ]; then
    log "QEMU failed (status $QEMU_STATUS)"
  else
    log "the guest ended without reporting an exit status (QEMU status $QEMU_STATUS; kernel panic?)"
  fi
  exit 125
}

main
