#!/usr/bin/env bash
# Builds the repository's Dockerfile with a real OCI builder (buildah, Debian's package; no
# Docker engine runs on this machine) and runs the image it makes:
#   - the image builds, both stages, from a clean context (.dockerignore applied);
#   - its config: entrypoint, the HTTPS port, the state volume, SIGTERM as stop signal;
#   - the runtime stage has no compiler and the binary no debug info;
#   - `periscope --version` runs in it (every shared library the binary needs is there);
#   - started as the image says, with only the admin password set, it serves HTTPS: a login,
#     /api/state naming the test pattern, /snapshot.jpg a JPEG, 401 without the session;
#   - SIGTERM (docker stop) ends it with exit 0.
# The two base images the Dockerfile names cannot be pulled here (no registry but Debian's),
# so they are made locally under the same names, once, and kept in the cache:
#   debian:bookworm-slim      debootstrap --variant=minbase bookworm (Debian's own archive);
#   rust:X.Y-bookworm         that plus gcc/g++/make/git (as the official image's base has)
#                             and this machine's Rust toolchain at the official image's paths
#                             (and its extra certificate authorities, for cargo's downloads).
# Cache: $PERISCOPE_CONTAINER_CACHE (default ~/.cache/periscope/container): the images, the
# builder's layers and its cargo cache mounts, so a rebuild compiles only what changed.
# PERISCOPE_CONTAINER_FEATURES=gstreamer builds and runs that variant instead of the default.
# Prints "N passed, N failed"; exits non-zero on a failure.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
. "$root/scripts/lib.sh"
cache="${PERISCOPE_CONTAINER_CACHE:-$HOME/.cache/periscope/container}"
mkdir -p "$cache"
passed=0; failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

apt_install buildah debootstrap curl binutils procps || { bad "installing buildah and debootstrap"; finish; }
# Storage of our own (not the machine's /var/lib/containers), overlay on the cache's disk.
B=(buildah --root "$cache/storage" --runroot "$cache/run" --storage-driver overlay)
# buildah's cache mounts (RUN --mount=type=cache) live under TMPDIR: keep them with the rest.
export TMPDIR="$cache/tmp"
mkdir -p "$TMPDIR"
has_image() { "${B[@]}" images -q "$1" 2>/dev/null | grep -q .; }

rust_version="$(rustc --version | awk '{print $2}' | cut -d. -f1,2)"
debian=bookworm
log="$cache/build.log"

# --- base images -----------------------------------------------------------------------
if ! has_image "docker.io/library/debian:$debian-slim"; then
  echo "== making debian:$debian-slim with debootstrap"
  rm -rf "$cache/slim" "$cache/slim.tar"
  if debootstrap --variant=minbase "$debian" "$cache/slim" http://deb.debian.org/debian >"$log" 2>&1 &&
     tar -C "$cache/slim" -cf "$cache/slim.tar" . &&
     printf 'FROM scratch\nADD slim.tar /\nCMD ["bash"]\n' >"$cache/slim.Containerfile" &&
     "${B[@]}" bud --isolation chroot -f "$cache/slim.Containerfile" \
       -t "docker.io/library/debian:$debian-slim" "$cache" >>"$log" 2>&1; then
    rm -rf "$cache/slim" "$cache/slim.tar"
  else
    tail -n 20 "$log"; bad "making debian:$debian-slim"; finish
  fi
fi
if ! has_image "docker.io/library/rust:$rust_version-$debian"; then
  echo "== making rust:$rust_version-$debian from this machine's toolchain"
  ctx="$cache/rust-context"
  rm -rf "$ctx" && mkdir -p "$ctx/rust"
  sysroot="$(rustc --print sysroot)"
  cp -a "$sysroot/bin" "$sysroot/lib" "$sysroot/libexec" "$ctx/rust/" 2>/dev/null ||
    cp -a "$sysroot/bin" "$sysroot/lib" "$ctx/rust/"
  # The machine's own certificate authorities (a network whose proxy re-signs TLS), so
  # cargo inside reaches crates.io as it does outside.
  mkdir -p "$ctx/ca" && cp -a /usr/local/share/ca-certificates/. "$ctx/ca/" 2>/dev/null
  cat >"$ctx/Containerfile" <<EOF
FROM docker.io/library/debian:$debian-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc g++ libc6-dev make git \
    ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY ca /usr/local/share/ca-certificates
RUN update-ca-certificates >/dev/null
COPY rust /usr/local/rust
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:\$PATH
RUN mkdir -p /usr/local/cargo/bin && ln -s /usr/local/rust/bin/* /usr/local/cargo/bin/ && cargo --version
EOF
  if "${B[@]}" bud --isolation chroot --pull=never -t "docker.io/library/rust:$rust_version-$debian" \
       "$ctx" >"$log" 2>&1; then
    rm -rf "$ctx"
  else
    tail -n 20 "$log"; bad "making rust:$rust_version-$debian"; finish
  fi
fi

# --- the Dockerfile ------------------------------------------------------------------------
# PERISCOPE_CONTAINER_FEATURES=gstreamer checks that variant (scripts/test builds the default).
features="${PERISCOPE_CONTAINER_FEATURES:-}"
image="localhost/periscope:check${features:+-${features//,/-}}"
echo "== buildah bud $root/Dockerfile (RUST_VERSION=$rust_version FEATURES=$features; log: $log)"
start=$(date +%s)
if "${B[@]}" bud --isolation chroot --pull=never --layers \
     --build-arg "RUST_VERSION=$rust_version" --build-arg "DEBIAN=$debian" \
     --build-arg "FEATURES=$features" \
     -f "$root/Dockerfile" -t "$image" "$root" >"$log" 2>&1; then
  ok "the Dockerfile builds ($(( $(date +%s) - start )) s)"
else
  tail -n 40 "$log"; bad "the Dockerfile builds"; finish
fi

# The image's OCI config, as `docker inspect` shows it.
config="$("${B[@]}" inspect --type image "$image" 2>/dev/null |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["OCIv1"]["config"]))' 2>/dev/null)"
field() { python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]).get(sys.argv[2])))' "$config" "$1" 2>/dev/null; }
entry="$(field Entrypoint)"
[ "$entry" = '["/usr/local/bin/periscope"]' ] && ok "entrypoint $entry" || bad "entrypoint: $entry"
ports="$(field ExposedPorts)"
[[ "$ports" == *'"8443/tcp"'* ]] && ok "exposes 8443/tcp" || bad "exposed ports: $ports"
vols="$(field Volumes)"
[[ "$vols" == *'"/var/lib/periscope"'* ]] && ok "volume /var/lib/periscope" || bad "volumes: $vols"
stop="$(field StopSignal)"
[ "$stop" = '"SIGTERM"' ] && ok "stop signal SIGTERM" || bad "stop signal: $stop"
"${B[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' 2>/dev/null | grep -E "periscope:check|debian"

# A working container of the image; everything below runs in it.
"${B[@]}" rm periscope-check >/dev/null 2>&1
ctr="$("${B[@]}" from --pull-never --name periscope-check "$image" 2>>"$log")" ||
  { bad "a container from the image"; finish; }
trap '"${B[@]}" rm "$ctr" >/dev/null 2>&1' EXIT
run() { "${B[@]}" run --isolation chroot "$@"; }

if run "$ctr" -- sh -c 'command -v cc || command -v gcc || command -v cargo' >/dev/null 2>&1; then
  bad "the runtime stage carries a compiler"
else
  ok "no compiler in the runtime stage"
fi
mnt="$("${B[@]}" mount "$ctr")"
bin="$mnt/usr/local/bin/periscope"
if [ -x "$bin" ] && ! readelf -S "$bin" | grep -q '\.debug_info'; then
  ok "binary without debug info ($(( $(stat -c %s "$bin") / 1000000 )) MB)"
else
  bad "binary missing or carrying debug info: $bin"
fi
"${B[@]}" umount "$ctr" >/dev/null

want="periscope $(grep -m1 '^version' "$root/Cargo.toml" | cut -d'"' -f2)"
got="$(run "$ctr" -- /usr/local/bin/periscope --version 2>&1)"
[ "$got" = "$want" ] && ok "periscope --version in the image: $got" || bad "--version: $got (want $want)"

# Started as the image says (the entrypoint, no arguments but the address), the admin
# password from the environment as `docker run -e` gives it.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
password="container-check-$$"
out="$cache/run.log"
run --env "PERISCOPE_ADMIN_PASSWORD=$password" "$ctr" -- /usr/local/bin/periscope \
  --listen "127.0.0.1:$port" >"$out" 2>&1 &
runner=$!
base="https://127.0.0.1:$port"
for _ in $(seq 1 150); do
  curl -sk -o /dev/null "$base/" && break
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.2  # polling the listener; bounded by the loop's count
done
token="$(curl -sk -X POST -H 'content-type: application/json' \
  -d "{\"user\":\"admin\",\"password\":\"$password\"}" "$base/api/auth/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("token",""))' 2>/dev/null)"
[ -n "$token" ] && ok "HTTPS login in the container" || { bad "login at $base"; tail -n 20 "$out"; }
code="$(curl -sk -o /dev/null -w '%{http_code}' "$base/api/state")"
[ "$code" = 401 ] && ok "/api/state without the session: 401" || bad "/api/state without the session: $code"
state="$(curl -sk -H "authorization: Bearer $token" "$base/api/state")"
[[ "$state" == *test-pattern* ]] && ok "/api/state: the test pattern (no capture device)" ||
  bad "/api/state: $state"
magic="$(curl -sk -H "authorization: Bearer $token" "$base/snapshot.jpg" | head -c 3 | od -An -tx1 | tr -d ' \n')"
[ "$magic" = ffd8ff ] && ok "/snapshot.jpg is a JPEG" || bad "/snapshot.jpg starts with '$magic'"

# docker stop: SIGTERM to the process, which must end on its own with exit 0.
pid="$(pgrep -f "^/usr/local/bin/periscope --listen 127.0.0.1:$port" | head -n 1)"
if [ -n "$pid" ]; then
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
if kill -0 "$runner" 2>/dev/null; then sleep 1; fi
if kill -0 "$runner" 2>/dev/null; then
  kill -KILL "$pid" "$runner" 2>/dev/null
  bad "still running 10 s after SIGTERM"
else
  wait "$runner"; rc=$?
  if [ "$rc" -eq 0 ] && grep -q SIGTERM "$out"; then
    ok "SIGTERM: clean exit"
  else
    bad "SIGTERM: exit $rc"; tail -n 20 "$out"
  fi
fi
finish
