#!/bin/sh
# Guest case: `periscope doctor` on the live system reads vivid's HDMI input (read-only):
# formats, EDID and signal, in three states. Each run's report is printed between
# `== STATE` and `exit=N`:
#   noedid  the EDID cleared (vivid then reports no signal, as a TC358743 keeps hot-plug low)
#   ok      periscope's EDID written with v4l2-ctl from `periscope edid`, 640x480 timings
#   range   the signal out of range
. /vm/lib.sh
dev=/dev/video0
profile=/cases/profiles/vivid-hdmi.toml
doctor() {
  echo "== $1"
  periscope doctor --profile "$profile"
  echo "exit=$?"
}
command -v v4l2-ctl > /dev/null || vm_fail "no v4l2-ctl in the guest"
vm_vivid_timings 640x480p "$dev" || vm_fail "select 640x480"
v4l2-ctl -d "$dev" --clear-edid || vm_fail "clear the EDID"
doctor noedid
periscope edid > /tmp/edid.hex || vm_fail "periscope edid"
v4l2-ctl -d "$dev" --set-edid=file=/tmp/edid.hex || vm_fail "set the EDID"
doctor ok
v4l2-ctl -d "$dev" -c dv_timings_signal_mode=3 || vm_fail "out of range"
doctor range
echo "DONE"
