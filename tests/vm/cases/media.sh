#!/bin/sh
# Guest case for tests/hw.rs `virtual_media_reaches_the_usb_host_side_as_a_cdrom_and_a_disk`:
# serves with the gadget built from ARGS' profile (keyboard + mass storage + ACM on dummy_hcd),
# so the same kernel's USB host side sees the LUN as a SCSI disk. Prints READY, then after
# each go-ahead (announced by GO-WAIT N, once nc listens on 9000):
#   1. the host attached an image as a CD-ROM: MEDIA-CDROM dev=… size=BYTES ro=R sha256=HEX
#      (of the block device's bytes);
#   2. the host ejected it: MEDIA-EJECTED (the medium's size went to 0);
#   3. the host attached an image as a disk: writes a marker at offset 0 through the block
#      device, prints MEDIA-DISK ro=R wrote=yes;
#   4. the host ejected it: MEDIA-IMAGE head=… (the first bytes of the image file in the
#      state directory: the write reached it).
. /vm/lib.sh

# size DEV: the medium's size in bytes (0: no medium).
size() { echo $(( $(cat "/sys/class/block/${1#/dev/}/size") * 512 )); }

# wait_size DEV loaded|empty: until the medium is there (size > 0) or gone (size 0).
wait_size() {
  _i=0
  while :; do
    # Opening a removable disk makes the kernel check for a medium change (nothing polls it
    # here: no udisks).
    dd if="$1" of=/dev/null bs=512 count=1 2> /dev/null
    _s=$(size "$1")
    if [ "$2" = loaded ]; then [ "$_s" -gt 0 ] && return 0; else [ "$_s" -eq 0 ] && return 0; fi
    _i=$((_i + 1)); [ "$_i" -gt 200 ] && vm_fail "$1: size $_s, not $2"
    sleep 0.1
  done
}

vm_serve "$@"
disk=$(vm_usb_disk "" 30) || vm_fail "no USB disk on the host side"
echo "disk $disk"
echo "READY"

vm_go 1
wait_size "$disk" loaded
bytes=$(size "$disk")
sha=$(head -c "$bytes" "$disk" | sha256sum | cut -d' ' -f1)
echo "MEDIA-CDROM dev=$disk size=$bytes ro=$(blockdev --getro "$disk") sha256=$sha"

vm_go 2
wait_size "$disk" empty
echo "MEDIA-EJECTED"

vm_go 3
wait_size "$disk" loaded
ro=$(blockdev --getro "$disk")
printf 'PERISCOPE-DISK-WRITE' | dd of="$disk" bs=512 conv=sync,fsync 2> /tmp/dd.err ||
  { cat /tmp/dd.err; vm_fail "write to $disk"; }
echo "MEDIA-DISK ro=$ro wrote=yes"

vm_go 4
head=$(head -c 20 /tmp/state/images/disk.img)
echo "MEDIA-IMAGE head=$head"
tail -f /tmp/periscope.log
