#!/bin/sh
# Guest case: periscope builds its USB gadget (keyboard + absolute mouse) on dummy_udc, the same
# kernel enumerates it as a USB keyboard and mouse, and periscope serves with --hid otg. The
# host sends keys and a mouse move over the `hid` data channel; this script reads the input
# events the kernel delivers and exits 0 once all expected events have arrived:
#   KEY_A down then up (1 30 1, 1 30 0), and the absolute position x=0.5, y=0.25 of the
#   picture (3 0 16384, 3 1 8192), and BTN_LEFT down (1 272 1).
# Args: the profile (name or file) with keyboard and mouse_abs in its [usb] functions.
. /vm/lib.sh
profile=${1:-test-pattern}
periscope otg up --profile "$profile" || vm_fail "periscope otg up"
periscope otg status --profile "$profile"
kbd=$(vm_input_dev '*|usb-dummy_hcd.0-1/input0' 20) || vm_fail "no keyboard input device"
mouse=$(vm_input_dev '*|usb-dummy_hcd.0-1/input1' 20) || vm_fail "no mouse input device"
echo "keyboard $kbd, mouse $mouse"
vm_ev_start "$kbd" /tmp/kbd.ev || vm_fail "record $kbd"
vm_ev_start "$mouse" /tmp/mouse.ev || vm_fail "record $mouse"

mkdir -p /tmp/state
periscope --listen 0.0.0.0:8443 --state-dir /tmp/state --profile "$profile" --hid otg \
  --source test-pattern --resolution 320x240 --fps 10 \
  --webrtc-udp-port 19520 --webrtc-advertise 127.0.0.1 > /tmp/periscope.log 2>&1 &
until grep -q ':20FB 00000000:0000 0A' /proc/net/tcp 2>/dev/null; do sleep 0.1; done
echo "READY"

have() { vm_ev_decode "$1" | grep -qx "$2"; }
_vm_deadline 120
while :; do
  if have /tmp/kbd.ev "1 30 1" && have /tmp/kbd.ev "1 30 0" && have /tmp/mouse.ev "3 0 16384" &&
     have /tmp/mouse.ev "3 1 8192" && have /tmp/mouse.ev "1 272 1"; then
    break
  fi
  _vm_expired && break
  sleep 0.2
done
vm_ev_stop 0.2
echo "keyboard events:"; vm_ev_decode /tmp/kbd.ev
echo "mouse events:"; vm_ev_decode /tmp/mouse.ev
echo "periscope log:"; tail -n 20 /tmp/periscope.log
have /tmp/kbd.ev "1 30 1" || vm_fail "no KEY_A down"
have /tmp/kbd.ev "1 30 0" || vm_fail "no KEY_A up"
# KEY_A down must come before KEY_A up.
[ "$(vm_ev_decode /tmp/kbd.ev | grep -E '^1 30 ' | head -n1)" = "1 30 1" ] || vm_fail "KEY_A order"
have /tmp/mouse.ev "3 0 16384" || vm_fail "no ABS_X 16384"
have /tmp/mouse.ev "3 1 8192" || vm_fail "no ABS_Y 8192"
have /tmp/mouse.ev "1 272 1" || vm_fail "no BTN_LEFT down"
echo "HID-OK"
