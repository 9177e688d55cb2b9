# shellcheck shell=bash
# Shared by scripts/run, scripts/test and scripts/bench: install what is missing, from
# Debian's packages only, once. Sourced, not run.

# apt_install PKG... — installs the packages that are not installed yet (root or sudo).
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "periscope: installing ${missing[*]} (Debian packages)" >&2
  local try
  for try in 1 2; do
    if $sudo apt-get update -qq -o DPkg::Lock::Timeout=900 &&
       DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
         --no-install-recommends "${missing[@]}" >/dev/null; then
      return 0
    fi
    echo "periscope: apt-get failed (try $try), retrying" >&2
    sleep 5
  done
  return 1
}

# What a build needs: nasm (OpenH264 and libjpeg-turbo assembly: ~3x faster), cmake
# (libjpeg-turbo), clang/libclang (bindgen for the v4l crate), pkg-config.
build_deps() {
  apt_install nasm cmake clang libclang-dev pkg-config ca-certificates
}

# The gstreamer feature (scripts/test builds with it): GStreamer's headers, and the plugins the
# tests use: appsrc/appsink and videoconvert (base), v4l2h264enc's plugin (good; its encoder
# appears only where an M2M device exists), x264enc (ugly). The -dev package upgrades systemd
# packages on Debian 12, which can hold the dpkg lock a while: apt_install waits and retries.
gst_deps() {
  apt_install libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base \
    gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
}

# The cargo target directory: the repository's own unless CARGO_TARGET_DIR is set.
target_dir() {
  echo "${CARGO_TARGET_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target}"
}

# Node.js and npm for the browser tests: Debian's packages only when the commands are missing
# (a machine may carry another Node build whose npm conflicts with Debian's).
node_deps() {
  command -v node >/dev/null 2>&1 || apt_install nodejs
  command -v npm >/dev/null 2>&1 || apt_install npm
}

# The real WHIP server tests/whip.rs pushes to: Janus 1.1.2 (Debian's `janus`, the WebRTC
# gateway) behind meetecho's simple-whip-server (Debian's `simple-whip-server`, which drives
# Janus's VideoRoom over its WebSocket API). The Debian package's Node.js dependencies conflict
# with a Node that is not Debian's, so its files are unpacked with `apt-get download` into the
# target directory and its modules (the majors Debian ships) come from npm. Sets
# PERISCOPE_WHIP_SERVER to that directory.
whip_server_deps() {
  apt_install janus iproute2 || return 1
  node_deps || return 1
  local dir
  dir="$(target_dir)/simple-whip-server"
  if [ ! -f "$dir/src/whip-janus.js" ] || [ ! -d "$dir/node_modules/websocket" ]; then
    local tmp
    tmp="$(mktemp -d)" && chmod 755 "$tmp"  # apt's download user writes there
    echo "periscope: installing simple-whip-server (Debian package, unpacked) into $dir" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # apt-get download needs the package lists: fetch them once if the first try fails.
    if ! (cd "$tmp" && { apt-get download simple-whip-server >/dev/null 2>&1 ||
            { $sudo apt-get update -qq -o DPkg::Lock::Timeout=900 &&
              apt-get download simple-whip-server >/dev/null; }; } &&
          dpkg-deb -x simple-whip-server_*.deb x); then
      rm -rf "$tmp"; return 1
    fi
    rm -rf "$dir" && mkdir -p "$dir" &&
      cp -r "$tmp/x/usr/share/simple-whip-server/src" "$dir/" &&
      rm -f "$dir/src/config.js"  # a link to /etc; each test writes its own
    rm -rf "$tmp"
    (cd "$dir" && npm install --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
      express@4 body-parser@1 cors@2 colors@1.4.0 debug@4 async@3 websocket@1.0.34) || return 1
  fi
  export PERISCOPE_WHIP_SERVER="$dir"
}

# bench_kernel_version: the kernel version tests/vm/run.sh boots (see kernel_setup there):
# PERISCOPE_VM_KERNEL_PKG, else run.sh's memo of the apt-cache answer (kernel-pkg in the VM
# cache, used while the package lists are unchanged), else what linux-image-amd64 depends on,
# else the newest cached kernel (offline). For the out-of-tree module builds
# (tests/vm/v4l2loopback.sh, tests/vm/gpio-sim.sh).
bench_kernel_version() {
  local cache=${PERISCOPE_VM_CACHE:-$HOME/.cache/periscope/vm}
  local pkg=${PERISCOPE_VM_KERNEL_PKG:-} memo stamp
  memo=$cache/kernel-pkg
  if [ -z "$pkg" ] && [ -f "$memo" ]; then
    stamp=$(stat -c '%n %Y %s' /var/lib/apt/lists/*Packages* 2>/dev/null | cksum | cut -d' ' -f1)
    [ "$(sed -n 1p "$memo")" != "$stamp" ] || pkg=$(sed -n 2p "$memo")
  fi
  if [ -z "$pkg" ]; then
    pkg=$({ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
          awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  fi
  if [ -z "$pkg" ]; then
    pkg=$( { ls -d "$cache"/kernel/*/.ok 2>/dev/null || true; } | sort -V | tail -n 1 |
           sed 's|.*/kernel/\([^/]*\)/\.ok$|linux-image-\1|')
  fi
  echo "${pkg#linux-image-}"
}

# bench_download DIR PKG...: `apt-get download` into DIR (as root apt is told not to drop to
# _apt; otherwise DIR is opened to it).
bench_download() {
  local dir=$1; shift
  local sandbox=()
  if [ "$(id -u)" = 0 ]; then sandbox=(-o APT::Sandbox::User=root); else chmod 777 "$dir"; fi
  (cd "$dir" && apt-get -q "${sandbox[@]}" download "$@" >&2)
}

# bench_kernel_headers WORK KVER: the build tree for out-of-tree modules of kernel KVER.
# Downloads linux-headers-KVER (arch and -common parts, same version) and the linux-kbuild it
# depends on into WORK/dl, unpacks them into WORK/root, points the arch tree's one-line
# Makefile at the common tree, and installs make, kmod and the compiler the kernel was built
# with. Sets KHDR_VER (the package version: linux-source-X.Y of the same Debian upload has
# it too), KHDR_DIR (for `make -C`) and KHDR_CC. Messages on stderr; 1 on failure.
bench_kernel_headers() {
  local work=$1 kver=$2 hdr deps common kbuild d
  local fail=bench_kernel_headers
  mkdir -p "$work/dl" "$work/root"
  hdr=linux-headers-$kver
  KHDR_VER=$(apt-cache show "$hdr" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1) || true
  if [ -z "$KHDR_VER" ]; then
    apt-get -o DPkg::Lock::Timeout=900 -q update >&2 || true
    KHDR_VER=$(apt-cache show "$hdr" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1) || true
  fi
  [ -n "$KHDR_VER" ] || { echo "$fail: no package $hdr in the apt sources" >&2; return 1; }
  # Depends: linux-headers-<abi>-common (= V), linux-kbuild-X.Y (>= V), linux-compiler-gcc-N-x86
  deps=$(apt-cache show "$hdr=$KHDR_VER" | sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' |
         sed 's/^ *//; s/ .*//')
  common=$(grep -- '-common$' <<<"$deps" || true)
  kbuild=$(grep '^linux-kbuild-' <<<"$deps" || true)
  [ -n "$common" ] && [ -n "$kbuild" ] || { echo "$fail: unexpected Depends of $hdr: $deps" >&2; return 1; }
  KHDR_CC=$(sed -n 's/^linux-compiler-\(gcc-[0-9]*\)-.*/\1/p' <<<"$deps")
  KHDR_CC=${KHDR_CC:-gcc}
  command -v make > /dev/null || apt_install make || { echo "$fail: cannot install make" >&2; return 1; }
  command -v "$KHDR_CC" > /dev/null || apt_install "$KHDR_CC" ||
    { echo "$fail: cannot install $KHDR_CC" >&2; return 1; }
  command -v modinfo > /dev/null || apt_install kmod || { echo "$fail: cannot install kmod" >&2; return 1; }
  echo "$fail: downloading $hdr $common $kbuild (=$KHDR_VER)" >&2
  bench_download "$work/dl" "$hdr=$KHDR_VER" "$common=$KHDR_VER" ||
    { echo "$fail: apt-get download $hdr $common failed" >&2; return 1; }
  bench_download "$work/dl" "$kbuild=$KHDR_VER" || bench_download "$work/dl" "$kbuild" ||
    { echo "$fail: apt-get download $kbuild failed" >&2; return 1; }
  for d in "$work"/dl/linux-headers-*.deb "$work"/dl/linux-kbuild-*.deb; do
    dpkg-deb -x "$d" "$work/root"
  done
  KHDR_DIR=$work/root/usr/src/$hdr
  [ -d "$work/root/usr/src/$common" ] || { echo "$fail: no /usr/src/$common in $common" >&2; return 1; }
  # The arch part's Makefile is one line including the common tree by its absolute path.
  echo "include $work/root/usr/src/$common/Makefile" > "$KHDR_DIR/Makefile"
}
