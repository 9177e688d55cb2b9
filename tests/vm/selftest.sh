#!/bin/bash
# tests/vm/selftest.sh: the bench's own checks. Each boots a VM with tests/vm/run.sh (one at a
# time) and the script ends with a line "N passed, N failed"; exit status 0 when all passed.
#
#   tests/vm/selftest.sh [NAME...]
#   names: usage exitcode timeout signal devices hid gadget net (default: all)
#
# Host ports used by the net check: 127.0.0.1:19080 (TCP), 19053 (UDP), 19090 (TCP); override
# with SELFTEST_HTTP_PORT, SELFTEST_UDP_PORT, SELFTEST_STOP_PORT. Logs: $TMPDIR/vm-selftest-NAME.log.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=$HERE/run.sh
LOGS=${TMPDIR:-/tmp}
HTTP_PORT=${SELFTEST_HTTP_PORT:-19080} UDP_PORT=${SELFTEST_UDP_PORT:-19053} STOP_PORT=${SELFTEST_STOP_PORT:-19090}
PASSED=0 FAILED=0 FAILED_NAMES=""

# host_tools: socat and curl for the net check (socat also goes into the guest).
host_tools() {
  local miss=() apt
  command -v socat > /dev/null || miss+=(socat)
  command -v curl > /dev/null || miss+=(curl)
  [ ${#miss[@]} -eq 0 ] && return 0
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q
       --no-install-recommends install "${miss[@]}")
  [ "$(id -u)" = 0 ] || apt=(sudo "${apt[@]}")
  echo "selftest: installing ${miss[*]}" >&2
  "${apt[@]}" >&2 || { "${apt[0]}" apt-get -o DPkg::Lock::Timeout=900 -q update >&2; "${apt[@]}" >&2; }
}

# check NAME EXPECTED_STATUS CMD...: run CMD with its output in the log; pass if it exits with
# EXPECTED_STATUS. Prints "ok"/"FAIL", the wall time and, on failure, the log's tail.
check() {
  local name=$1 want=$2 t0 rc dt log=$LOGS/vm-selftest-$1.log
  shift 2
  t0=$EPOCHREALTIME
  "$@" > "$log" 2>&1; rc=$?
  dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" = "$want" ]; then
    PASSED=$((PASSED + 1)); printf 'ok   %-9s %5ss\n' "$name" "$dt"
  else
    FAILED=$((FAILED + 1)); FAILED_NAMES="$FAILED_NAMES $name"
    printf 'FAIL %-9s %5ss (status %s, want %s)\n' "$name" "$dt" "$rc" "$want"
    tail -n 20 "$log" | sed 's/^/     | /'
  fi
}

# check_usage: a bad option and a missing script are usage errors (2), without booting.
check_usage() {
  local rc
  "$RUN" --bogus -- -c true; rc=$?; [ "$rc" = 2 ] || { echo "--bogus: $rc"; return 1; }
  "$RUN" -- /no/such/script.sh; rc=$?; [ "$rc" = 2 ] || { echo "missing script: $rc"; return 1; }
  "$RUN" --port nonsense -- -c true; rc=$?; [ "$rc" = 2 ] || { echo "--port nonsense: $rc"; return 1; }
  return 0
}

# check_exitcode: the guest script's status comes back; printing a number proves nothing.
check_exitcode() {
  "$RUN" -q --env GREETING='hello world' -- -c '[ "$GREETING" = "hello world" ] && [ "$(pwd)" = /root ] || exit 1; echo 0; exit 3'
}

# check_signal: SIGTERM to run.sh's process group (what the Rust harness does) gives 143 and
# leaves no QEMU behind.
check_signal() {
  local out pid rc run
  out=$(mktemp)
  setsid "$RUN" -q --keep -- -c 'echo READY; sleep 120' > "$out" 2>&1 &
  pid=$!
  for _ in $(seq 600); do grep -q '^READY' "$out" && break; kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  grep -q '^READY' "$out" || { cat "$out"; rm -f "$out"; return 1; }
  kill -TERM -- "-$pid"
  wait "$pid"; rc=$?
  run=$(sed -n 's/^run.sh: run directory kept: //p' "$out")
  cat "$out"; rm -f "$out"
  [ "$rc" = 143 ] || { echo "status $rc, want 143"; return 1; }
  [ -n "$run" ] || { echo "no run directory reported"; return 1; }
  sleep 0.2
  if pgrep -f -- "$run/initrd" > /dev/null; then echo "QEMU of $run still running"; return 1; fi
  rm -rf "$run"
  echo "no QEMU left"
}

# check_net: host clients reach a TCP and a UDP server in the guest through forwarded ports.
check_net() {
  local out pid ok=1 body reply rc
  out=$(mktemp)
  "$RUN" -q --file "$(command -v socat):/usr/bin/socat" --port "tcp:$HTTP_PORT:8080" \
    --port "udp:$UDP_PORT" --port "$STOP_PORT:9000" --timeout 120 -- "$HERE/selftest/net-guest.sh" > "$out" 2>&1 &
  pid=$!
  for _ in $(seq 900); do grep -q '^READY' "$out" && break; kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  if grep -q '^READY' "$out"; then
    body=$(curl -sS --max-time 10 "http://127.0.0.1:$HTTP_PORT/" 2>&1)
    if [ "$body" = "hello from the guest" ]; then echo "tcp ok: $body"; else echo "tcp FAIL: '$body'"; ok=0; fi
    reply=$(echo "ping-$$" | socat -T 5 - "UDP:127.0.0.1:$UDP_PORT" 2>&1)
    if [ "$reply" = "ping-$$" ]; then echo "udp ok: $reply"; else echo "udp FAIL: '$reply'"; ok=0; fi
    echo stop | socat -T 3 - "TCP:127.0.0.1:$STOP_PORT" > /dev/null 2>&1
  else
    echo "the guest did not get ready"; ok=0; kill "$pid" 2> /dev/null
  fi
  wait "$pid"; rc=$?
  cat "$out"; rm -f "$out"
  [ "$rc" = 0 ] && [ "$ok" = 1 ]
}

# selected NAME: true if NAME was asked for (or nothing was).
SELECTED=("$@")
selected() { [ ${#SELECTED[@]} -eq 0 ] || [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

main() {
  selected net && host_tools
  # Warm the cache first (kernel, base initramfs), so the times below are boot-to-poweroff.
  "$RUN" -q -- -c true > "$LOGS/vm-selftest-warmup.log" 2>&1 ||
    { echo "warm-up run failed:"; tail -n 20 "$LOGS/vm-selftest-warmup.log"; }
  selected usage    && check usage 0 check_usage
  selected exitcode && check exitcode 3 check_exitcode
  selected timeout  && check timeout 124 "$RUN" -q --timeout 10 -- -c 'sleep 60'
  selected signal   && check signal 0 check_signal
  selected devices  && check devices 0 "$RUN" -q -- -c '
    set -e; . /vm/lib.sh
    vm_wait /dev/video0 5; grep -qx vivid-000-vid-cap /sys/class/video4linux/video0/name
    vm_wait /sys/class/udc/dummy_udc.0 5; vm_wait /dev/uhid 5
    cat /sys/class/video4linux/video0/name; ls /sys/class/udc /dev/uhid'
  selected hid      && check hid 0 "$RUN" -q -- "$HERE/selftest/hid-guest.sh"
  selected gadget   && check gadget 0 "$RUN" -q -- "$HERE/selftest/gadget-guest.sh"
  selected net      && check net 0 check_net
  [ -z "$FAILED_NAMES" ] || echo "failed:$FAILED_NAMES (logs: $LOGS/vm-selftest-NAME.log)"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}

main
