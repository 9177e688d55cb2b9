# Self-check (guest): a configfs keyboard + absolute mouse made with lib.sh; reports written
# to /dev/hidg* come back from the same kernel as input events on /dev/input/eventN.
. /vm/lib.sh
vm_gadget_hid hid || vm_fail "vm_gadget_hid"
echo "keyboard $VM_KBD_HIDG -> $VM_KBD_EV, mouse $VM_MOUSE_HIDG -> $VM_MOUSE_EV"
vm_usb_devices
vm_input_devices | grep dummy_hcd
dev=$(vm_usb_wait 1d6b:0104 5) || vm_fail "vm_usb_wait 1d6b:0104"
[ "$(vm_input_dev "*|usb-dummy_hcd.0-1/input0" 5)" = "$VM_KBD_EV" ] || vm_fail "vm_input_dev by phys"

vm_ev_start "$VM_KBD_EV" /tmp/kbd.ev || vm_fail "record the keyboard"
vm_ev_start "$VM_MOUSE_EV" /tmp/mouse.ev || vm_fail "record the mouse"
vm_hid_write "$VM_KBD_HIDG" "00 00 04 00 00 00 00 00"     # 'a' down (usage 0x04)
vm_hid_write "$VM_KBD_HIDG" "00 00 00 00 00 00 00 00"     # all up
vm_hid_write "$VM_MOUSE_HIDG" "00 00 40 00 20 00"         # X=0x4000 Y=0x2000
vm_hid_write "$VM_MOUSE_HIDG" "01 00 40 00 20 00"         # left button down
vm_ev_stop 0.5
echo "keyboard events:"; vm_ev_decode /tmp/kbd.ev
echo "mouse events:"; vm_ev_decode /tmp/mouse.ev
want() { vm_ev_decode "$1" | grep -qx "$2" || vm_fail "no event '$2' in $1"; }
want /tmp/kbd.ev "1 30 1"; want /tmp/kbd.ev "1 30 0"
want /tmp/mouse.ev "3 0 16384"; want /tmp/mouse.ev "3 1 8192"; want /tmp/mouse.ev "1 272 1"
[ "$(vm_ev_decode /tmp/kbd.ev | grep '^1 30 ' | head -n1)" = "1 30 1" ] || vm_fail "KEY_A order"
# -a keeps EV_SYN (0 0 0); -t prefixes a timestamp.
vm_ev_decode -a /tmp/kbd.ev | grep -qx "0 0 0" || vm_fail "vm_ev_decode -a: no SYN_REPORT"
vm_ev_decode -t /tmp/kbd.ev | grep -qE '^[0-9]+\.[0-9]{6} 1 30 1$' || vm_fail "vm_ev_decode -t"

vm_gadget_remove hid || vm_fail "vm_gadget_remove"
[ ! -e "/sys/bus/usb/devices/$dev" ] || vm_fail "the host side still has $dev"
[ -z "$(vm_usb_devices)" ] || vm_fail "USB devices left: $(vm_usb_devices)"
echo "HID-OK"
