#!/bin/sh
# Guest case: vivid's HDMI input (DV timings, like a TC358743) changes its signal while
# periscope captures it, driven by vivid's "DV Timings Signal Mode" control through v4l2-ctl.
#
# Before periscope starts, the input is set to 640x480 timings and its EDID is cleared (vivid,
# like a TC358743, reports no signal without an EDID), so a picture proves periscope wrote its
# EDID. Prints `READY pid=N` once HTTPS answers on 8443. Each connection the host makes to
# TCP port 9000 (forwarded) is one step:
#   1. prints `EDID <hex>` (what periscope wrote), then no signal (ENOLINK)
#                                               -> prints STEP nosignal
#   2. out of range (ERANGE)                    -> prints STEP outofrange
#   3. 1280x720 timings                         -> prints STEP 1280x720
# Prints PERISCOPE-EXITED if the server dies. Env: PERISCOPE_ADMIN_PASSWORD.
. /vm/lib.sh

dev=/dev/video0
ctl() { v4l2-ctl -d "$dev" "$@"; }
# mode N: set "DV Timings Signal Mode" (0 current, 1 no signal, 2 no lock, 3 out of range,
# 4 selected timings); each change raises a source-change event.
mode() { ctl -c "dv_timings_signal_mode=$1" || vm_fail "signal mode $1"; }

command -v v4l2-ctl > /dev/null || vm_fail "no v4l2-ctl in the guest"
vm_vivid_timings 640x480p "$dev" || vm_fail "select 640x480"
ctl --clear-edid || vm_fail "clear the EDID"

vm_serve --source "$dev" "$@"
pid=$VM_PID
echo "READY pid=$pid"
# step: wait for the host's go-ahead (one connection to port 9000), then run the command.
step() {
  nc -l -p 9000 > /dev/null || vm_fail "go-ahead"
  kill -0 "$pid" 2>/dev/null || vm_periscope_exited
  "$@"
}
# edid: prints the input's EDID as `EDID <hex>`.
edid() {
  ctl --get-edid=format=raw,file=/tmp/edid.bin > /dev/null 2>&1 || : > /tmp/edid.bin
  echo "EDID $(od -An -tx1 -v /tmp/edid.bin | tr -d ' \n')"
}
step edid
mode 1
echo "STEP nosignal"
step mode 3
echo "STEP outofrange"
step vm_vivid_timings 1280x720p2 "$dev" || vm_fail "select 1280x720 (24 or 25 Hz)"
echo "STEP 1280x720"
grep capture /tmp/periscope.log | tail -n 20
tail -n 0 -f /tmp/periscope.log &
wait "$pid"
echo "PERISCOPE-EXITED"
exit 1
