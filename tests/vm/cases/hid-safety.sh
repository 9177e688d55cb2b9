#!/bin/sh
# shellcheck shell=dash  # busybox ash: `local` is fine
# Guest case: a key held through periscope never stays down on the target, and the keyboard
# survives the host side dropping and re-attaching the USB link. With the gadget of hid.sh
# served by `periscope --hid otg`, the host test (tests/hw.rs) drives three steps:
#   1. CLOSE: it holds KeyA and the left button, pings (as clients must while holding) until
#      this script has seen both go down (HELD) and 1.5 s more, moves the pointer to x = 0.25
#      (ABS_X 8192: the last message, which dates the close here) and closes the data channel
#      0.1 s later. KEY_A and BTN_LEFT must come up within 0.8 s of that move (the close
#      released them, not the 1 s silence rule) and not before it (pings kept them down).
#   2. SILENCE: in a new session it holds ShiftLeft, KeyB and the right button and then sends
#      nothing: all three must come up between 0.9 s and 1.6 s after the last went down.
#   3. RE-ATTACH: this script de-authorizes the gadget's USB device on the host side (drivers
#      and input devices go away) and authorizes it again (they come back, maybe under other
#      eventN numbers), prints REATTACHED, and the host sends KeyC down/up and an absolute
#      move to (0.75, 0.75): exactly those must arrive on the new devices, from the same
#      periscope process.
#   4. HELD ACROSS A RE-ATTACH: the host holds KeyD (and keeps pinging, so no other rule
#      releases it); once KEY_D is down this script de-authorizes and re-authorizes the
#      device again. periscope must notice the host configured the gadget again and release
#      everything: the new keyboard is left with no key down, and periscope logs that the
#      link is back (once more than before this step). Prints RELEASED-ON-REATTACH.
# After each step no key or button is left down (every press has a later release).
# Prints READY, HELD, RELEASED-ON-CLOSE, RELEASED-ON-SILENCE, REATTACHED, RELEASED-ON-REATTACH,
# HID-SAFETY-OK.
# Args: PROFILE (keyboard, mouse_abs first in its [usb] functions) UDP_PORT
. /vm/lib.sh
profile=$1 udp=$2

periscope otg up --profile "$profile" || vm_fail "periscope otg up"
kbd=$(vm_input_dev '*|usb-dummy_hcd.0-1/input0' 20) || vm_fail "no keyboard input device"
abs=$(vm_input_dev '*|usb-dummy_hcd.0-1/input1' 20) || vm_fail "no absolute mouse input device"
echo "keyboard $kbd, absolute mouse $abs"
vm_ev_start "$kbd" /tmp/kbd.ev || vm_fail "record $kbd"
vm_ev_start "$abs" /tmp/abs.ev || vm_fail "record $abs"

mkdir -p /tmp/state
periscope --listen 0.0.0.0:8443 --state-dir /tmp/state --profile "$profile" --hid otg \
  --source test-pattern --resolution 320x240 --fps 5 \
  --webrtc-udp-port "$udp" --webrtc-advertise 127.0.0.1 > /tmp/periscope.log 2>&1 &
pid=$!
until grep -q ':20FB 00000000:0000 0A' /proc/net/tcp 2>/dev/null; do sleep 0.1; done
echo "READY"

# show: the events so far and periscope's log, for a failure.
# (Autorepeat and EV_MSC left out.)
events() { vm_ev_decode -t "$1" | awk '$2 != 4 && !($2 == 1 && $4 == 2)'; }
show() {
  echo "keyboard events:"; events /tmp/kbd.ev
  echo "mouse events:"; events /tmp/abs.ev
  [ -f /tmp/kbd2.ev ] && { echo "keyboard events after re-attach:"; events /tmp/kbd2.ev; }
  [ -f /tmp/abs2.ev ] && { echo "mouse events after re-attach:"; events /tmp/abs2.ev; }
  [ -f /tmp/kbd3.ev ] && { echo "keyboard events after the second re-attach:"; events /tmp/kbd3.ev; }
  echo "periscope log:"; tail -n 40 /tmp/periscope.log
}
fail() { show; vm_fail "$*"; }
# have FILE "TYPE CODE VALUE": the event was recorded.
have() { vm_ev_decode "$1" | grep -qx "$2"; }
# wait_ev SECONDS FILE EVENT...: wait until every EVENT is in FILE.
wait_ev() {
  local _s=$1 _f=$2 _e
  shift 2
  for _e in "$@"; do vm_wait_cmd "$_s" have "$_f" "$_e" || return 1; done
}
# at FILE "TYPE CODE VALUE": the time (seconds.micro) of the event's first occurrence.
at() { vm_ev_decode -t "$1" | awk -v e="$2" '$2 " " $3 " " $4 == e { print $1; exit }'; }
# gap A B: B - A in milliseconds (A, B seconds.micro).
gap() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
# none_held FILE...: every key and button that went down in the files came up again.
none_held() {
  local _f _h
  for _f in "$@"; do
    _h=$(vm_ev_held "$_f")
    [ -z "$_h" ] || fail "left down in $_f: $(echo "$_h" | tr '\n' ' ')"
  done
}

# 1. CLOSE
wait_ev 60 /tmp/kbd.ev "1 30 1" || fail "KEY_A did not go down"
wait_ev 10 /tmp/abs.ev "1 272 1" || fail "BTN_LEFT did not go down"
echo "HELD"
wait_ev 30 /tmp/kbd.ev "1 30 0" || fail "KEY_A still down after the channel closed"
wait_ev 5 /tmp/abs.ev "1 272 0" || fail "BTN_LEFT still down after the channel closed"
last=$(at /tmp/abs.ev "3 0 8192")
[ -n "$last" ] || fail "no ABS_X 8192 (the host's last message before closing)"
for e in "$(at /tmp/kbd.ev "1 30 0") KEY_A" "$(at /tmp/abs.ev "1 272 0") BTN_LEFT"; do
  ms=$(gap "$last" "${e% *}")
  echo "${e#* } up ${ms} ms after the last message"
  [ "$ms" -ge 0 ] || fail "${e#* } came up before the last message: pings did not keep it down"
  [ "$ms" -le 800 ] || fail "${e#* } came up ${ms} ms after the last message: not at the close"
done
none_held /tmp/kbd.ev /tmp/abs.ev
echo "RELEASED-ON-CLOSE"

# 2. SILENCE
wait_ev 60 /tmp/kbd.ev "1 42 1" "1 48 1" || fail "KEY_LEFTSHIFT + KEY_B did not go down"
wait_ev 10 /tmp/abs.ev "1 273 1" || fail "BTN_RIGHT did not go down"
wait_ev 10 /tmp/kbd.ev "1 48 0" "1 42 0" || fail "KEY_B / KEY_LEFTSHIFT still down after silence"
wait_ev 5 /tmp/abs.ev "1 273 0" || fail "BTN_RIGHT still down after silence"
last=$(printf '%s\n' "$(at /tmp/kbd.ev "1 42 1")" "$(at /tmp/kbd.ev "1 48 1")" \
  "$(at /tmp/abs.ev "1 273 1")" | sort -n | tail -n 1)
for e in "$(at /tmp/kbd.ev "1 48 0") KEY_B" "$(at /tmp/kbd.ev "1 42 0") KEY_LEFTSHIFT" \
  "$(at /tmp/abs.ev "1 273 0") BTN_RIGHT"; do
  ms=$(gap "$last" "${e% *}")
  echo "${e#* } up ${ms} ms after the last message"
  [ "$ms" -ge 900 ] || fail "${e#* } came up ${ms} ms after the last message: before 1 s of silence"
  [ "$ms" -le 1600 ] || fail "${e#* } came up ${ms} ms after the last message: too late"
done
none_held /tmp/kbd.ev /tmp/abs.ev
echo "RELEASED-ON-SILENCE"

# 3. RE-ATTACH
vm_ev_stop 0.1
bus=$(vm_usb_devices | awk 'NR == 1 { print $1 }')
[ -n "$bus" ] || fail "no USB device"
vm_usb_authorize "$bus" 0 || fail "de-authorizing $bus"
vm_input_devices | grep -q 'dummy_hcd' && fail "input devices left after de-authorizing: $(vm_input_devices)"
vm_usb_authorize "$bus" 1 || fail "authorizing $bus again"
kbd2=$(vm_input_dev '*|usb-dummy_hcd.0-1/input0' 20) || fail "no keyboard after re-attaching"
abs2=$(vm_input_dev '*|usb-dummy_hcd.0-1/input1' 20) || fail "no absolute mouse after re-attaching"
echo "re-attached: keyboard $kbd2 (was $kbd), absolute mouse $abs2 (was $abs)"
vm_ev_start "$kbd2" /tmp/kbd2.ev || fail "record $kbd2"
vm_ev_start "$abs2" /tmp/abs2.ev || fail "record $abs2"
echo "REATTACHED"
wait_ev 30 /tmp/kbd2.ev "1 46 1" "1 46 0" || fail "KEY_C did not arrive after re-attaching"
wait_ev 10 /tmp/abs2.ev "3 0 24575" "3 1 24575" || fail "the pointer did not move after re-attaching"
sleep 0.3
[ "$(vm_ev_keys /tmp/kbd2.ev | tr '\n' ' ')" = "1 46 1 1 46 0 " ] ||
  fail "after re-attaching, the keyboard gave more than KEY_C down, up"
none_held /tmp/kbd2.ev /tmp/abs2.ev
echo "REATTACHED-OK"

# 4. HELD ACROSS A RE-ATTACH
wait_ev 30 /tmp/kbd2.ev "1 32 1" || fail "KEY_D did not go down"
vm_ev_stop 0.1
backs=$(grep -c 'link to the target is back' /tmp/periscope.log)
vm_usb_authorize "$bus" 0 || fail "de-authorizing $bus (again)"
vm_usb_authorize "$bus" 1 || fail "authorizing $bus again (again)"
kbd3=$(vm_input_dev '*|usb-dummy_hcd.0-1/input0' 20) || fail "no keyboard after the second re-attach"
vm_ev_start "$kbd3" /tmp/kbd3.ev || fail "record $kbd3"
vm_wait_cmd 10 sh -c "[ \$(grep -c 'link to the target is back' /tmp/periscope.log) -gt $backs ]" ||
  fail "periscope did not notice the host configure the gadget again"
sleep 1
vm_ev_stop 0.2
echo "keyboard events after the second re-attach:"; events /tmp/kbd3.ev
none_held /tmp/kbd3.ev
echo "RELEASED-ON-REATTACH"
kill -0 "$pid" 2> /dev/null || fail "periscope is not running any more"
echo "periscope's HID log:"
grep -E 'hid|otg' /tmp/periscope.log | grep -v 'hid node' | tail -n 12
echo "HID-SAFETY-OK"
