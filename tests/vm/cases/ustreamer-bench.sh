#!/bin/sh
# Guest case of scripts/bench-ustreamer (a benchmark, not a test): periscope and uStreamer
# serve MJPEG from the same V4L2 device, one after the other in this one boot, while the host
# reads each one's stream (tests/vm/mjpeg_bench_reader.py).
#
#   ustreamer-bench.sh PHASE...      PHASE = SOURCE:SERVER[:idle], SOURCE mjpeg|raw,
#                                    SERVER periscope|ustreamer|ustreamer-nginx; every
#                                    mjpeg phase first;
#                                    `idle`: the host reads no stream in that window
#
# mjpeg: v4l2loopback's /dev/video10 fed 1280x720 JPEGs at BENCH_FPS by mjpeg-feed (each
#        stamped with its sequence number): both servers pass the device's JPEGs through.
# raw:   vivid's HDMI input at 1280x720 in UYVY: both servers encode JPEG (quality 80).
#
# ustreamer-nginx: uStreamer as above behind /usr/sbin/nginx (/bench/nginx/nginx.conf: TLS on
# 8443, proxied to uStreamer's 8080) as PiKVM deploys it; its CPU and RSS are both processes'.
#
# For each phase: starts the server, prints `READY PHASE` once it listens; the host's first
# connection to TCP 9000 opens the measuring window, its second closes it; then prints
# `RESULT PHASE cpu_ticks=N window_cs=N busy_pct=N rss_kb=N threads=N` (the server's utime +
# stime in 1/100 s over the window, from /proc/PID/stat) and stops the server.
# BENCH_PERF=1 (scripts/bench-ustreamer --perf): perf samples the whole guest during each window
# (cpu-clock, 999 Hz) and `PERF PHASE ...` lines follow its RESULT: the server's bytes written
# (wchar; in the nginx row uStreamer's, to nginx) and the guest's TCP segments sent over the
# window, then its threads' hottest symbols
# in % of all samples (so 1 % of a 20 s window is 200 ms of CPU).
# Files: /bench/v4l2loopback.ko, /bench/mjpeg-feed, /bench/frames/*.jpg, /usr/bin/ustreamer,
# /usr/bin/v4l2-ctl, /usr/bin/periscope, /cases/profiles/vivid-hdmi.toml.
# Env: PERISCOPE_ADMIN_PASSWORD, BENCH_FPS (30).
. /vm/lib.sh
B=/bench
FPS=${BENCH_FPS:-30}
LOOP=/dev/video10
VIVID=/dev/video0
feed="" pid="" pid2="" perf_pid=""

fail() {
  echo "FAIL: $*"
  for f in /tmp/server.log /tmp/feed.log; do
    [ -f $f ] && { echo "--- $f"; tail -n 20 $f; }
  done
  dmesg | tail -n 5
  exit 1
}

start_feed() {
  [ -n "$feed" ] && return 0
  modprobe videodev || fail "modprobe videodev"
  # exclusive_caps=1: a capture node only while the writer streams, as a card with a source.
  insmod $B/v4l2loopback.ko devices=1 video_nr=10 exclusive_caps=1 max_buffers=8 \
    'card_label="bench MJPEG"' || fail "insmod v4l2loopback"
  vm_wait $LOOP 10 || fail "no $LOOP"
  $B/mjpeg-feed $LOOP $B/frames "$FPS" > /tmp/feed.log 2>&1 &
  feed=$!
  vm_wait_grep /tmp/feed.log 'mjpeg-feed:' 30 || fail "mjpeg-feed did not start"
  grep -q 'mjpeg-feed: streaming' /tmp/feed.log || fail "mjpeg-feed could not stream"
  cat /tmp/feed.log
}

stop_feed() {
  [ -n "$feed" ] || return 0
  kill "$feed"; wait "$feed" 2> /dev/null; feed=""
}

# listening HEXPORT: true once a socket listens on that TCP port (/proc/net/tcp, no tools).
listening() { grep -q ":$1 00000000:0000 0A" /proc/net/tcp 2> /dev/null; }

# start_server SOURCE SERVER: sets pid; returns once the server listens.
start_server() {
  case $1 in mjpeg) dev=$LOOP;; raw) dev=$VIVID;; *) fail "source $1";; esac
  name=$2
  case $2 in
    periscope)
      port=20FB   # 8443
      set -- --listen 0.0.0.0:8443 --state-dir /tmp/state --hid none --fps "$FPS" \
        --resolution 1280x720 --source "$dev"
      [ "$dev" = $VIVID ] && set -- "$@" --profile /cases/profiles/vivid-hdmi.toml
      mkdir -p /tmp/state
      periscope "$@" > /tmp/server.log 2>&1 &
      pid=$!;;
    ustreamer|ustreamer-nginx)
      port=1F90   # 8080
      # --buffers 4: what periscope asks for (v4l2loopback's ring shrinks to the smallest
      # REQBUFS any reader made, for good).
      # MJPEG: no --desired-fps (the feed paces at BENCH_FPS; with it uStreamer skipped a
      # third of the frames). vivid's input runs at 60 Hz: 30 as periscope's --fps.
      set -- --device "$dev" --resolution 1280x720 --buffers 4 --host 0.0.0.0 --port 8080
      if [ "$dev" = $LOOP ]; then set -- "$@" --format MJPEG --encoder hw
      else set -- "$@" --format UYVY --dv-timings --desired-fps "$FPS" --encoder cpu \
        --quality 80 --workers 1; fi
      ustreamer "$@" > /tmp/server.log 2>&1 &
      pid=$!
      if [ "$name" = ustreamer-nginx ]; then
        mkdir -p /tmp/nginx
        nginx -c /bench/nginx/nginx.conf -e /tmp/nginx/error.log > /tmp/nginx.log 2>&1 &
        pid2=$!
      fi;;
    *) fail "server $2";;
  esac
  echo "start: $name $*"
  _vm_deadline 60 up
  until listening $port && { [ -z "$pid2" ] || listening 20FB; }; do
    kill -0 "$pid" 2> /dev/null || fail "$name exited"
    [ -z "$pid2" ] || kill -0 "$pid2" 2> /dev/null ||
      fail "nginx exited: $(cat /tmp/nginx/error.log /tmp/nginx.log 2> /dev/null | tail -n 5)"
    _vm_expired up && fail "$name not listening after 60 s"
    sleep 0.1
  done
}

# perf_start / perf_stop: BENCH_PERF's sampling of the window; perf_report PHASE prints it.
# outsegs: the guest's TCP segments sent so far (/proc/net/snmp's second Tcp: line, OutSegs).
outsegs() { awk '/^Tcp:/ { if (++n == 2) print $12 }' /proc/net/snmp; }
wchar() { awk '/^wchar/ { print $2 }' "/proc/$1/io"; }
perf_start() {
  io_a=$(wchar "$pid") seg_a=$(outsegs)
  perf record -a -e cpu-clock -F 999 -o /tmp/perf.data > /tmp/perf.log 2>&1 &
  perf_pid=$!
}
perf_stop() {
  io_b=$(wchar "$pid") seg_b=$(outsegs)
  kill -TERM "$perf_pid"; wait "$perf_pid" 2> /dev/null
}
perf_report() {
  echo "PERF $1 wchar=$((io_b - io_a)) outsegs=$((seg_b - seg_a))"
  # shellcheck disable=SC2086  # $pid2: none or one PID
  pids=$(echo $pid $pid2 | tr ' ' ,)
  perf report -i /tmp/perf.data --stdio --no-children --pid "$pids" --sort comm,dso,sym \
      --percent-limit 0.1 2> /dev/null | grep -v '^#' | grep -v '^$' | head -n 30 | sed "s/^/PERF $1 /"
}

# ticks PID...: utime + stime of the processes, in 1/100 s.
ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ t += $1 } END { print t }'; }

# snap PREFIX: the server's CPU ticks, the guest's busy/total ticks, uptime (centiseconds).
snap() {
  read -r _ u n s i w q sq st _ < /proc/stat
  _vm_now
  # shellcheck disable=SC2086  # $pid2: none or one PID
  eval "${1}_cpu=$(ticks $pid $pid2)"
  eval "${1}_busy=$((u + n + s + q + sq + st)) ${1}_all=$((u + n + s + i + w + q + sq + st)) ${1}_up=$VM_NOW"
}

for t in periscope ustreamer nginx; do command -v $t > /dev/null || fail "no $t in the guest"; done
ustreamer --version > /dev/null 2>&1 || fail "ustreamer does not run: $(ustreamer --version 2>&1 | head -n 2)"
echo "ustreamer $(ustreamer --version), $(periscope --version 2>/dev/null || echo periscope)"

for phase in "$@"; do
  src=${phase%%:*} srv=${phase#*:}; srv=${srv%%:*}
  case $src in
    mjpeg) start_feed;;
    raw)
      stop_feed
      if command -v v4l2-ctl > /dev/null; then
        vm_vivid_timings 1280x720p60 $VIVID > /dev/null || fail "vivid timings 1280x720p60"
      fi;;
  esac
  start_server "$src" "$srv"
  echo "READY $phase"
  nc -l -p 9000 > /dev/null    # the host opens the window...
  snap a
  [ "${BENCH_PERF:-0}" = 1 ] && perf_start
  nc -l -p 9000 > /dev/null    # ...and closes it
  snap b
  [ "${BENCH_PERF:-0}" = 1 ] && perf_stop
  kill -0 "$pid" 2> /dev/null || fail "$srv died during $phase"
  [ -z "$pid2" ] || kill -0 "$pid2" 2> /dev/null || fail "nginx died during $phase"
  # shellcheck disable=SC2086
  rss=$(for p in $pid $pid2; do awk '/^VmRSS/ { print $2 }' "/proc/$p/status"; done |
    awk '{ t += $1 } END { print t }')
  threads=$(ls "/proc/$pid/task" | wc -l)
  # shellcheck disable=SC2154  # a_* and b_* come from snap's eval
  echo "RESULT $phase cpu_ticks=$((b_cpu - a_cpu)) window_cs=$((b_up - a_up))" \
    "busy_pct=$(( 100 * (b_busy - a_busy) / (b_all - a_all + 1) )) rss_kb=$rss threads=$threads"
  [ "${BENCH_PERF:-0}" = 1 ] && perf_report "$phase"
  grep -iE 'error|warn|using|fps' /tmp/server.log | head -n 6
  # shellcheck disable=SC2086
  kill $pid $pid2; wait $pid $pid2 2> /dev/null; pid="" pid2=""
  sleep 1   # the device is free again before the next opener
done
stop_feed
echo "DONE"
