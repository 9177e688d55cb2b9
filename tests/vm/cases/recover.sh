#!/bin/sh
# Guest case: the capture device goes away and comes back while periscope runs.
# Runs `periscope serve` with the given arguments (capturing vivid's /dev/video0) and prints
# `READY pid=N` once HTTPS answers on 8443. When the host connects to TCP port 9000 (it does so
# once its WHEP client shows pictures), vivid's platform device is unbound from its driver
# (/dev/video0 disappears: `UNBOUND`), kept away PERISCOPE_GONE_SECONDS (default 5), bound
# again (`REBOUND pid=N`, N being the same periscope process, still running). The host then
# expects pictures again on the WHEP session it already had.
# Prints PERISCOPE-EXITED if the server dies. Env: PERISCOPE_ADMIN_PASSWORD.
. /vm/lib.sh

node=$(readlink -f /sys/class/video4linux/video0/device)
dev=${node##*/}
drv=/sys/bus/platform/drivers/vivid
[ -e "$drv/$dev" ] || vm_fail "/dev/video0 is not vivid's ($node)"

# VIVID_TIMINGS (e.g. 640x480p): the signal vivid's HDMI input receives (its default is
# 1280x720p60, and periscope captures an HDMI input at the signal's size).
if [ -n "${VIVID_TIMINGS:-}" ]; then
  vm_vivid_timings "$VIVID_TIMINGS" || vm_fail "vivid timings $VIVID_TIMINGS"
fi
vm_serve "$@"
pid=$VM_PID
# The host's go-ahead: one connection to port 9000 (forwarded), closed at once. Listening
# before READY, so the host cannot connect too early.
nc -l -p 9000 > /dev/null &
go=$!
echo "READY pid=$pid"
wait "$go"
echo "$dev" > "$drv/unbind" || vm_fail "unbind $dev"
vm_wait_cmd 10 sh -c '! [ -e /dev/video0 ]' || vm_fail "/dev/video0 stays after unbind"
echo "UNBOUND"
sleep "${PERISCOPE_GONE_SECONDS:-5}"
kill -0 "$pid" 2>/dev/null || vm_periscope_exited
echo "$dev" > "$drv/bind" || vm_fail "bind $dev"
vm_wait /dev/video0 10 || vm_fail "/dev/video0 does not come back after bind"
# A rebound vivid is a new device with its default signal: give it the same one again.
if [ -n "${VIVID_TIMINGS:-}" ]; then
  vm_vivid_timings "$VIVID_TIMINGS" || vm_fail "vivid timings $VIVID_TIMINGS after bind"
fi
kill -0 "$pid" 2>/dev/null || vm_periscope_exited
echo "REBOUND pid=$pid"
grep capture /tmp/periscope.log | tail -n 20
tail -n 0 -f /tmp/periscope.log &
wait "$pid"
echo "PERISCOPE-EXITED"
exit 1
