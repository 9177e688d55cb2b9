#!/usr/bin/env bash
# run.sh [TEST.mjs [SERVER-ARG...]] — starts a periscope binary (test pattern, record HID
# backend, an admin and a viewer password, the front panel of devices.toml, a 1 MiB
# virtual-media limit (`--media-max-mb 1`: images go to the state dir; e2e.mjs check 3n),
# plus SERVER-ARGs) on a loopback port with a throw-away state dir, runs TEST.mjs (default
# e2e.mjs) against it, stops it and exits with the test's status. E.g.
# `run.sh encoder.mjs --profile tests/browser/x264.toml`.
#
# devices.toml is a template: @DIR@ becomes $TMP/devices (where its commands leave marker
# files; the test gets it as PERISCOPE_DEVICES_DIR) and @WOL_PORT@ the UDP port the test
# listens on for the Wake-on-LAN packet (PERISCOPE_WOL_PORT); the result is passed as
# `--config $TMP/devices.toml`.
#
# Environment (all optional):
#   PERISCOPE_BIN     the binary (default: target/release/periscope at the repo root)
#   PERISCOPE_PORT    HTTPS port on 127.0.0.1 (default 18443)
#   PERISCOPE_WOL_PORT  UDP port on 127.0.0.1 for Wake-on-LAN (default PERISCOPE_PORT + 1)
#   PERISCOPE_DEVICES   the config template (default devices.toml here; empty: no --config,
#                     e.g. to pass your own --config as a SERVER-ARG)
#   PERISCOPE_E2E_KEEP=1  keep the temp dir (server log, record file) for a look afterwards
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${PERISCOPE_BIN:-$root/target/release/periscope}"
port="${PERISCOPE_PORT:-18443}"
wol_port="${PERISCOPE_WOL_PORT:-$((port + 1))}"
devices="${PERISCOPE_DEVICES-$here/devices.toml}"
test="${1:-e2e.mjs}"
[ $# -gt 0 ] && shift
password="e2e-$RANDOM-$RANDOM"
viewer_password="e2e-viewer-$RANDOM-$RANDOM"

[ -f "$here/$test" ] || { echo "run.sh: no test $here/$test" >&2; exit 2; }
[ -x "$bin" ] || { echo "run.sh: no periscope binary at $bin (cargo build --release first)" >&2; exit 2; }
[ -d "$here/node_modules/playwright-core" ] || (cd "$here" && npm install --no-audit --no-fund >/dev/null)

if curl -sk -o /dev/null --max-time 2 "https://127.0.0.1:$port/"; then
  echo "run.sh: something already answers on 127.0.0.1:$port; stop it or set PERISCOPE_PORT" >&2
  exit 2
fi

tmp="$(mktemp -d)"
server_pid=""
config=()
if [ -n "$devices" ]; then
  [ -f "$devices" ] || { echo "run.sh: no config template $devices" >&2; rm -rf "$tmp"; exit 2; }
  mkdir "$tmp/devices"
  # mktemp's names need no quoting in TOML or sh; refuse anything that would.
  case "$tmp" in *[!A-Za-z0-9/._-]*) echo "run.sh: unusual temp dir $tmp" >&2; rm -rf "$tmp"; exit 2 ;; esac
  sed -e "s|@DIR@|$tmp/devices|g" -e "s|@WOL_PORT@|$wol_port|g" "$devices" >"$tmp/devices.toml"
  config=(--config "$tmp/devices.toml")
fi
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${PERISCOPE_E2E_KEEP:-}" = 1 ]; then echo "run.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

PERISCOPE_ADMIN_PASSWORD="$password" PERISCOPE_VIEWER_PASSWORD="$viewer_password" "$bin" --listen "127.0.0.1:$port" --source test-pattern \
  --hid "record:$tmp/record.jsonl" --state-dir "$tmp/state" \
  --media-max-mb 1 "${config[@]}" "$@" >"$tmp/server.log" 2>&1 &
server_pid=$!

# Wait (at most 30 s) until it answers HTTPS.
for _ in $(seq 1 300); do
  if curl -sk -o /dev/null "https://127.0.0.1:$port/"; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: periscope exited early; its log:" >&2; cat "$tmp/server.log" >&2; exit 2
  fi
  sleep 0.1
done
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "run.sh: periscope exited; its log:" >&2; cat "$tmp/server.log" >&2; exit 2
fi

set +e
PERISCOPE_URL="https://127.0.0.1:$port" PERISCOPE_PASSWORD="$password" PERISCOPE_VIEWER_PASSWORD="$viewer_password" \
  PERISCOPE_RECORD="$tmp/record.jsonl" PERISCOPE_DEVICES_DIR="${devices:+$tmp/devices}" PERISCOPE_WOL_PORT="$wol_port" \
  node "$here/$test"
status=$?
set -e
if [ "$status" -ne 0 ]; then echo "run.sh: server log (last 40 lines):" >&2; tail -n 40 "$tmp/server.log" >&2; fi
exit "$status"
