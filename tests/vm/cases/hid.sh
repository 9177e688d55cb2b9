#!/bin/sh
# Guest case: periscope builds its USB gadget (keyboard, absolute mouse, relative mouse) on
# dummy_udc, the same kernel enumerates it, and periscope serves with --hid otg. The host test
# (tests/hw.rs) sends on the `hid` data channel, in this order:
#   1. every key of us-keys.txt down then up; then each again with ShiftLeft held around it;
#      then every modifier down then up;
#   2. the text given as $3, which periscope types with the us layout;
#   3. once this script has checked those (KEYS-OK), the pointer messages of hid-mouse.txt.
# This script checks the exact EV_KEY sequence on the keyboard's evdev node (presses 1 and
# releases 0; autorepeat, EV_MSC and EV_SYN ignored), built from us-keys.txt, and the exact
# event sequences hid-mouse.txt gives for the two mice. Then it sets Caps Lock, then Num Lock,
# on the keyboard (an EV_LED written to its evdev node, as a desktop does; the kernel sends the
# gadget an output report): the host must get each as a `leds` message and acknowledges it
# with an absolute move to x = 0.1 (ABS_X 3277), then x = 0.2 (ABS_X 6553).
# Prints READY when the host may connect, KEYS-OK, MOUSE-OK, LEDS-CAPS, LEDS-NUM, HID-OK.
# Args: PROFILE (keyboard, mouse_abs, mouse_rel in its [usb] functions, in that order)
#       UDP_PORT (periscope's WebRTC port, forwarded by the host) TEXT
. /vm/lib.sh
profile=$1 udp=$2 text=$3
keys=/cases/us-keys.txt mouse=/cases/hid-mouse.txt

periscope otg up --profile "$profile" || vm_fail "periscope otg up"
kbd=$(vm_input_dev '*|usb-dummy_hcd.0-1/input0' 20) || vm_fail "no keyboard input device"
abs=$(vm_input_dev '*|usb-dummy_hcd.0-1/input1' 20) || vm_fail "no absolute mouse input device"
rel=$(vm_input_dev '*|usb-dummy_hcd.0-1/input2' 20) || vm_fail "no relative mouse input device"
echo "keyboard $kbd, absolute mouse $abs, relative mouse $rel"
vm_ev_start "$kbd" /tmp/kbd.ev || vm_fail "record $kbd"
vm_ev_start "$abs" /tmp/abs.ev || vm_fail "record $abs"
vm_ev_start "$rel" /tmp/rel.ev || vm_fail "record $rel"

# What must arrive. Keys: each key pressed and released, the same with KEY_LEFTSHIFT (42)
# around it, each modifier, then the text character by character (a character typed with
# Shift on the US layout gets KEY_LEFTSHIFT around it).
TEXT=$text awk '
  $1 == "key" {
    n++; code[n] = $3
    if (length($4) == 1) plain[$4] = $3
    if ($4 == "SP") plain[" "] = $3
    if (length($5) == 1) shifted[$5] = $3
  }
  $1 == "mod" { m++; mods[m] = $3 }
  function press(c) { print "1 " c " 1"; print "1 " c " 0" }
  END {
    for (i = 1; i <= n; i++) press(code[i])
    for (i = 1; i <= n; i++) { print "1 42 1"; press(code[i]); print "1 42 0" }
    for (i = 1; i <= m; i++) press(mods[i])
    t = ENVIRON["TEXT"]
    for (i = 1; i <= length(t); i++) {
      c = substr(t, i, 1)
      if (c in plain) press(plain[c])
      else if (c in shifted) { print "1 42 1"; press(shifted[c]); print "1 42 0" }
      else print "no US key types " c
    }
  }' "$keys" > /tmp/keys.want
# Pointer: "MESSAGE => DEVICE EVENT; EVENT..." → the events each mouse must show, in order.
: > /tmp/abs.want; : > /tmp/rel.want
awk -F ' => ' '/^[{]/ {
    n = split($2, ev, "; "); dev = substr(ev[1], 1, 3); ev[1] = substr(ev[1], 5)
    for (i = 1; i <= n; i++) print ev[i] > ("/tmp/" dev ".want")
  }' "$mouse"
grep -q "^no US key" /tmp/keys.want && vm_fail "the text: $(grep "^no US key" /tmp/keys.want)"
echo "expecting $(wc -l < /tmp/keys.want) key events, $(wc -l < /tmp/abs.want) absolute and $(wc -l < /tmp/rel.want) relative mouse events"

mkdir -p /tmp/state
periscope --listen 0.0.0.0:8443 --state-dir /tmp/state --profile "$profile" --hid otg \
  --source test-pattern --resolution 320x240 --fps 5 \
  --webrtc-udp-port "$udp" --webrtc-advertise 127.0.0.1 > /tmp/periscope.log 2>&1 &
until grep -q ':20FB 00000000:0000 0A' /proc/net/tcp 2>/dev/null; do sleep 0.1; done
echo "READY"

# Events compared: EV_KEY 0/1 on the keyboard; EV_KEY, EV_REL (but the high-resolution wheel)
# and EV_ABS on the mice.
mouse_events() {
  vm_ev_decode "$1" | awk '($1 == 1 && $3 != 2) || $1 == 3 || ($1 == 2 && $2 != 11 && $2 != 12)'
}
got() {
  case $1 in keys) vm_ev_keys /tmp/kbd.ev;; *) mouse_events "/tmp/$1.ev";; esac > "/tmp/$1.got"
}
# arrived NAME...: as many events as expected (or more) have been recorded for each NAME.
arrived() {
  for _n in "$@"; do
    got "$_n"; [ "$(wc -l < "/tmp/$_n.got")" -ge "$(wc -l < "/tmp/$_n.want")" ] || return 1
  done
}
# compare BOUND NAME...: wait up to BOUND seconds for the events, then they must be exactly
# the expected ones.
compare() {
  _s=$1; shift
  vm_wait_cmd "$_s" arrived "$@"
  sleep 0.5   # anything extra arrives now
  for _n in "$@"; do
    got "$_n"
    cmp -s "/tmp/$_n.want" "/tmp/$_n.got" && continue
    echo "$_n: expected (-) and received (+) events differ:"
    diff "/tmp/$_n.want" "/tmp/$_n.got" | head -n 60
    echo "periscope log:"; tail -n 30 /tmp/periscope.log
    vm_fail "$_n events"
  done
}
# The keys and the text first; the host sends the pointer messages once they are in (text
# is typed at one report per 10 ms).
compare 60 keys
echo "KEYS-OK ($(wc -l < /tmp/keys.got) events)"
compare 30 abs rel
echo "MOUSE-OK"
[ -z "$(vm_ev_held /tmp/kbd.ev)$(vm_ev_held /tmp/abs.ev)$(vm_ev_held /tmp/rel.ev)" ] ||
  vm_fail "keys or buttons left down"

# LEDs: the host acknowledges each `leds` message with an absolute move to ABS_X $1.
acked() { vm_ev_decode /tmp/abs.ev | grep -qx "3 0 $1"; }
vm_ev_write "$kbd" 17 1 1 || vm_fail "cannot set Caps Lock"   # EV_LED LED_CAPSL 1
echo "LEDS-CAPS"
vm_wait_cmd 30 acked 3277 || { tail -n 30 /tmp/periscope.log; vm_fail "the host did not get Caps Lock"; }
vm_ev_write "$kbd" 17 0 1 || vm_fail "cannot set Num Lock"     # EV_LED LED_NUML 1
echo "LEDS-NUM"
vm_wait_cmd 30 acked 6553 || { tail -n 30 /tmp/periscope.log; vm_fail "the host did not get Num Lock"; }
vm_ev_stop 0.1
echo "HID-OK"
