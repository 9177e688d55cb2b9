#!/bin/sh
# Guest case: with mass storage and ACM in the profile, `periscope otg up` gives the host side
# of the same kernel a USB disk (/dev/sdX, removable, no medium yet) and a serial port
# that is exactly /dev/ttyACM0 (the only ttyACM) and carries bytes written to the gadget's
# /dev/ttyGS0. Then the serial console: `periscope otg console install` writes the getty
# drop-in and enable link (into an image root here: the guest has no systemd), and a getty on
# ttyGS0 gives the host side a shell: a command typed into /dev/ttyACM0 runs on the gadget
# side and its output comes back.
. /vm/lib.sh
periscope otg up --profile /cases/profiles/storage-acm.toml || vm_fail "periscope otg up"
vm_usb_devices
disk=$(vm_usb_disk "" 20) || vm_fail "no USB disk on the host side"
echo "disk $disk"
tty=$(vm_usb_tty "" 20) || vm_fail "no ttyACM on the host side"
echo "serial $tty"
[ "$tty" = /dev/ttyACM0 ] || vm_fail "the ACM function is $tty, not /dev/ttyACM0"
acms=$(echo /sys/class/tty/ttyACM*)
[ "$acms" = /sys/class/tty/ttyACM0 ] || vm_fail "ttyACM devices: $acms (one expected)"
vm_wait /dev/ttyGS0 10 || vm_fail "no /dev/ttyGS0 on the gadget side"
stty -F "$tty" raw -echo 2>/dev/null
stty -F /dev/ttyGS0 raw -echo 2>/dev/null
cat "$tty" > /tmp/acm.out &
reader=$!
sleep 0.5
echo "hello from the gadget" > /dev/ttyGS0
vm_wait_grep /tmp/acm.out "hello from the gadget" 10 || vm_fail "bytes did not cross the serial link"
kill "$reader" 2>/dev/null

mkdir -p /tmp/img
periscope otg console install --root /tmp/img --profile /cases/profiles/storage-acm.toml ||
  vm_fail "periscope otg console install"
grep -qx 'TTYVHangup=no' /tmp/img/etc/systemd/system/getty@ttyGS0.service.d/periscope.conf ||
  vm_fail "no getty drop-in"
[ -L /tmp/img/etc/systemd/system/getty.target.wants/getty@ttyGS0.service ] ||
  vm_fail "getty@ttyGS0 not enabled"
setsid getty -n -l /bin/sh 115200 ttyGS0 &
sleep 1
cat "$tty" > /tmp/console.out &
reader=$!
sleep 0.3
# shellcheck disable=SC2016  # expanded by the shell on the other end of the link
printf 'echo CONSOLE-$((6*7))\r' > "$tty"
vm_wait_grep /tmp/console.out "CONSOLE-42" 10 || {
  echo "console output:"; cat /tmp/console.out; vm_fail "no shell on the serial console"
}
kill "$reader" 2>/dev/null
echo "CONSOLE-OK"
periscope otg down || vm_fail "periscope otg down"
echo "STORAGE-ACM-OK"
