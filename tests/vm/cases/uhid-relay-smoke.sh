#!/bin/sh
# Guest case: the uhid-relay helper (tests/vm/uhid_relay.rs) makes USB HID relay boards that the
# kernel turns into real /dev/hidrawN nodes, and logs exactly what the host side sends.
#   1. LCUS (5131:2007): two raw 4-byte writes with busybox printf (A0 01 01 A2, A0 01 00 A1)
#      give exactly those two `out:` lines and the states 01 then 00.
#   2. V-USB USBRelay2 (16c0:05df, serial PSCP1): feature reports through HIDIOCSFEATURE
#      (`uhid-relay --probe-feature`: FF 01, FF 02, FD 01, as PiKVM's hidrelay sends them), the
#      state through HIDIOCGFEATURE report 1, 8 bytes (`--probe-get`: serial, 0, 0, mask), and
#      one usbrelay-style output report (report number 0 + 8 bytes: 00 FD 02 00...).
#   Both: HID_ID/HID_NAME of the node, SIGTERM exits 0 and removes the node.
# Prints UHID-RELAY-OK at the end. Host (uhid is loaded at boot; it has no module option):
#   cargo build --release --features vm-bench --bin uhid-relay
#   tests/vm/run.sh --file target/release/uhid-relay:/usr/bin/uhid-relay \
#       --file tests/vm/cases:/cases -- /cases/uhid-relay-smoke.sh
. /vm/lib.sh

# relay_start NAME ARGS...: uhid-relay ARGS --log /tmp/NAME.log in the background; waits for
# its ready line; sets RELAY_PID, HIDRAW and UEVENT (the HID device's uevent file).
relay_start() {
  _name=$1; shift
  uhid-relay "$@" --log "/tmp/$_name.log" > "/tmp/$_name.out" 2>&1 &
  RELAY_PID=$!
  vm_wait_grep "/tmp/$_name.log" '^ready hidraw=/dev/hidraw[0-9]+$' 15 ||
    { cat "/tmp/$_name.out"; vm_fail "$_name: no ready line"; }
  HIDRAW=$(sed -n 's/^ready hidraw=//p' "/tmp/$_name.log")
  [ -c "$HIDRAW" ] || vm_fail "$_name: $HIDRAW is not a character device"
  UEVENT=/sys/class/hidraw/${HIDRAW#/dev/}/device/uevent
  echo "$_name: $HIDRAW"; cat "$UEVENT"
}

# relay_stop NAME: SIGTERM, exit status 0, the node goes away.
relay_stop() {
  kill -TERM "$RELAY_PID"
  wait "$RELAY_PID"; _rc=$?
  [ "$_rc" -eq 0 ] || { cat "/tmp/$1.out"; vm_fail "$1: exit status $_rc after SIGTERM"; }
  vm_wait_cmd 5 test ! -e "$HIDRAW" || vm_fail "$1: $HIDRAW still there after exit"
}

# expect NAME ERE "LINES": the log's lines matching ERE are exactly LINES.
expect() {
  _got=$(grep -E "$2" "/tmp/$1.log")
  [ "$_got" = "$3" ] || { echo "--- /tmp/$1.log"; cat "/tmp/$1.log"
    vm_fail "$1: lines /$2/ are not: $3"; }
}

# ---------------------------------------------------------------- LCUS 5131:2007, raw writes
relay_start lcus
grep -qx 'HID_ID=0003:00005131:00002007' "$UEVENT" || vm_fail "lcus: HID_ID"
grep -qx 'HID_NAME=LCUS relay' "$UEVENT" || vm_fail "lcus: HID_NAME"
vm_hid_write "$HIDRAW" "A0 01 01 A2" || vm_fail "lcus: write on"
vm_hid_write "$HIDRAW" "A0 01 00 A1" || vm_fail "lcus: write off"
vm_wait_grep /tmp/lcus.log '^state: 00$' 5 || { cat /tmp/lcus.log; vm_fail "lcus: no state 00"; }
expect lcus '^out:' "out: A0 01 01 A2
out: A0 01 00 A1"
expect lcus '^state:' "state: 01
state: 00"
relay_stop lcus
echo "LCUS-OK"

# ------------------------------------------------------- V-USB USBRelay2 16c0:05df, features
relay_start vusb --vusb --serial PSCP1 --channels 2
grep -qx 'HID_ID=0003:000016C0:000005DF' "$UEVENT" || vm_fail "vusb: HID_ID"
grep -qx 'HID_NAME=USBRelay2' "$UEVENT" || vm_fail "vusb: HID_NAME"
get() {
  _s=$(uhid-relay --probe-get "$HIDRAW") || vm_fail "vusb: --probe-get"
  [ "$_s" = "$1" ] || vm_fail "vusb: GET_FEATURE gave '$_s', want '$1'"
}
feature() {
  uhid-relay --probe-feature "$HIDRAW" "$@" || vm_fail "vusb: --probe-feature $*"
}
get "50 53 43 50 31 00 00 00"
feature FF 01
get "50 53 43 50 31 00 00 01"
feature FF 02
feature FD 01
get "50 53 43 50 31 00 00 02"
vm_hid_write "$HIDRAW" "00 FD 02 00 00 00 00 00 00" || vm_fail "vusb: write"
vm_wait_grep /tmp/vusb.log '^state: 00$' 5 || { cat /tmp/vusb.log; vm_fail "vusb: no state 00"; }
get "50 53 43 50 31 00 00 00"
expect vusb '^feature-set:' "feature-set: FF 01
feature-set: FF 02
feature-set: FD 01"
expect vusb '^out:' "out: 00 FD 02 00 00 00 00 00 00"
expect vusb '^state:' "state: 01
state: 03
state: 02
state: 00"
expect vusb '^get:' "get: feature 01 -> 50 53 43 50 31 00 00 00
get: feature 01 -> 50 53 43 50 31 00 00 01
get: feature 01 -> 50 53 43 50 31 00 00 02
get: feature 01 -> 50 53 43 50 31 00 00 00"
expect vusb '^(bad|output-set|input-set):' ""
relay_stop vusb
echo "VUSB-OK"
echo "UHID-RELAY-OK"
