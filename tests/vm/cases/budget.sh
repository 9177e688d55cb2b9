#!/bin/sh
# Guest case: a gadget asking for more endpoints than the profile's budget is refused before
# anything is bound, with a message that names the functions to drop; no USB device appears
# on the host side and no gadget is left in configfs.
. /vm/lib.sh
out=$(periscope otg up --profile /cases/profiles/over-budget.toml 2>&1)
status=$?
echo "$out"
[ "$status" -ne 0 ] || vm_fail "otg up succeeded on an over-budget gadget"
echo "$out" | grep -q "9" || vm_fail "the message does not give the 9 endpoints asked for"
echo "$out" | grep -q "8" || vm_fail "the message does not give the budget of 8"
echo "$out" | grep -qi "drop" || vm_fail "the message does not say what to drop"
echo "$out" | grep -q "ecm" || vm_fail "the message does not name ecm"
echo "$out" | grep -q "524" && vm_fail "errno 524 leaked: the udc was written"
for g in /sys/kernel/config/usb_gadget/*; do
  [ -d "$g" ] || continue
  udc=""; read -r udc < "$g/UDC" 2>/dev/null
  [ -z "$udc" ] || vm_fail "gadget $g is bound to $udc"
done
sleep 1
devices=$(vm_usb_devices)
[ -z "$devices" ] || vm_fail "the host side enumerated: $devices"
echo "BUDGET-OK"
