# Self-check (guest): one gadget with mass storage, ACM and ECM made with lib.sh enumerates on
# the same kernel's host side: /dev/sdX (usb_storage + sd_mod), /dev/ttyACMn (cdc_acm) and a
# cdc_ether network interface, all loaded by the uevent helper; bytes cross the serial link.
. /vm/lib.sh
dd if=/dev/zero of=/tmp/disk.img bs=1M count=4 2> /dev/null
vm_gadget_create combo 0x1d6b 0x0104 Periscope "VM Combo" || vm_fail "vm_gadget_create"
vm_gadget_function combo mass_storage.0 lun.0/removable=1 lun.0/file=/tmp/disk.img || vm_fail "mass_storage"
vm_gadget_function combo acm.usb0 || vm_fail "acm"
vm_gadget_function combo ecm.usb0 || vm_fail "ecm"
for f in mass_storage.0 acm.usb0 ecm.usb0; do vm_gadget_link combo $f || vm_fail "link $f"; done
vm_gadget_bind combo || vm_fail "bind"
disk=$(vm_usb_disk 1d6b:0104 15) || vm_fail "no USB disk"
tty=$(vm_usb_tty "" 15) || vm_fail "no ttyACM"
vm_wait_cmd 15 sh -c 'ls /sys/bus/usb/drivers/cdc_ether/ | grep -q :' || vm_fail "cdc_ether did not bind"
vm_usb_devices
echo "disk $disk ($(cat /sys/class/block/${disk#/dev/}/size) sectors), serial $tty"
echo "network: $(ls /sys/bus/usb/drivers/cdc_ether/*/net 2> /dev/null | tr '\n' ' ')"
echo "hotplug loaded: $(tr '\n' ' ' < /run/vm-hotplug.log)"
vm_usb_devices | grep -q ' 1d6b:0104 .*usb-storage' || vm_fail "usb-storage not bound"
vm_usb_devices | grep -q ' 1d6b:0104 .*cdc_acm' || vm_fail "cdc_acm not bound"

vm_wait /dev/ttyGS0 5 || vm_fail "no /dev/ttyGS0"
stty -F "$tty" raw -echo; stty -F /dev/ttyGS0 raw -echo
cat "$tty" > /tmp/acm.out &
reader=$!
sleep 0.3
echo "over the serial link" > /dev/ttyGS0
vm_wait_grep /tmp/acm.out "^over the serial link" 5 || vm_fail "ACM bytes did not arrive"
kill $reader

vm_gadget_unbind combo || vm_fail "unbind"
[ ! -e "$disk" ] || vm_fail "$disk still there after unbind"
vm_gadget_remove combo || vm_fail "remove"
echo "GADGET-OK"
