#!/bin/sh
# Guest case for tests/hw.rs `atx_and_buttons_drive_a_real_gpiochip_and_a_uhid_relay`:
# the front panel's drivers against real kernel devices.
#   - gpio: a gpio-sim chip "atx" (4 lines: 0 power, 1 reset, 2 power LED, 3 spare), its
#     module from tests/vm/gpio-sim.sh at /opt/bench/gpio-sim.ko;
#   - hidrelay: an LCUS 5131:2007 board and a V-USB 16c0:05df board from uhid-relay
#     (tests/vm/uhid_relay.rs) on real /dev/hidrawN nodes;
#   - cmd: /tmp/cmd.sh, which records its argument, and `sleep 30` with a 1 s timeout.
# Writes /tmp/devices.toml (drivers, [atx], [[buttons]]) and serves with it, then prints READY.
# Then, each step after a connection to the go-ahead port 9000 (announced by GO-WAIT N):
#   1. gpio-watch times the power line's next pulse; prints POWER-PULSE ms=N;
#   2. pulls the LED line up, prints LED-UP; 3. pulls it down, prints LED-DOWN;
#   4. prints the LCUS board's `out:` lines (RELAY-OUT …), the V-USB board's (VUSB-OUT …) and
#      the command's log (CMD-RUN …), then DEVICES-DONE.
. /vm/lib.sh
. /cases/gpiosim-lib.sh

gpiosim_load /opt/bench/gpio-sim.ko || vm_fail "gpio-sim module"
chip=$(gpiosim_chip atx 4) || vm_fail "gpio-sim chip"
echo "chip $chip"

uhid-relay --log /tmp/lcus.log > /tmp/lcus.out 2>&1 &
vm_wait_grep /tmp/lcus.log '^ready hidraw=' 15 || { cat /tmp/lcus.out; vm_fail "lcus relay"; }
lcus=$(sed -n 's/^ready hidraw=//p' /tmp/lcus.log)
uhid-relay --vusb --log /tmp/vusb.log > /tmp/vusb.out 2>&1 &
vm_wait_grep /tmp/vusb.log '^ready hidraw=' 15 || { cat /tmp/vusb.out; vm_fail "vusb relay"; }
vusb=$(sed -n 's/^ready hidraw=//p' /tmp/vusb.log)
echo "lcus $lcus vusb $vusb"

cat > /tmp/cmd.sh <<'SH'
#!/bin/sh
echo "$1" >> /tmp/cmd.log
echo "ran $1"
SH
chmod +x /tmp/cmd.sh

cat > /tmp/devices.toml <<TOML
[drivers.board]
type = "gpio"
chip = "$chip"

[drivers.relay]
type = "hidrelay"
path = "$lcus"
protocol = "lcus"

[drivers.usbrelay]
type = "hidrelay"
path = "$vusb"
protocol = "vusb"

# The V-USB board's node configured as an LCUS board: not that relay, refused.
[drivers.wrong]
type = "hidrelay"
path = "$vusb"
protocol = "lcus"

[drivers.script]
type = "cmd"
on = ["/tmp/cmd.sh", "switched"]
timeout_ms = 5000

[atx]
power = { driver = "board", channel = 0 }
reset = { driver = "board", channel = 1 }
led = { driver = "board", channel = 2 }
short_ms = 500
long_ms = 1500

[[buttons]]
name = "relay_power"
label = "Power (relay)"
driver = "relay"
channel = 1
pulse_ms = 300
confirm = true

[[buttons]]
name = "usb_lamp"
label = "Lamp (V-USB relay)"
driver = "usbrelay"
channel = 2
action = "on"

[[buttons]]
name = "wrong_relay"
label = "Not a relay"
driver = "wrong"
channel = 1

[[buttons]]
name = "switch"
label = "Switch KVM machine"
driver = "script"

[drivers.hang]
type = "cmd"
on = ["/bin/sleep", "30"]
timeout_ms = 1000

[[buttons]]
name = "hang"
label = "Never returns"
driver = "hang"
TOML

vm_serve --config /tmp/devices.toml "$@"
echo "READY"

# 1. Time the power line's next pulse from outside (the sim's sysfs value).
power=$(gpiosim_sysfs atx 0)/value
gpio-watch "$power" --transitions 2 --timeout 60 > /tmp/power.watch 2> /tmp/power.err &
watch=$!
vm_wait_grep /tmp/power.err 'watching' 10 || { cat /tmp/power.err; vm_fail "gpio-watch"; }
vm_go 1
wait "$watch" || { cat /tmp/power.watch /tmp/power.err; vm_fail "no power pulse"; }
cat /tmp/power.watch
ms=$(awk -F'[= ]' '/value=1/ { up = $2 } /value=0/ && up { print int($2 - up + 0.5); exit }' /tmp/power.watch)
echo "POWER-PULSE ms=$ms"

# 2, 3. The power LED.
vm_go 2
gpiosim_pull atx 2 up || vm_fail "LED up"
echo "LED-UP"
vm_go 3
gpiosim_pull atx 2 down || vm_fail "LED down"
echo "LED-DOWN"

# 4. What the boards and the command received.
vm_go 4
sed -n 's/^out: /RELAY-OUT /p' /tmp/lcus.log
sed -n 's/^\(feature-set\|out\): /VUSB-OUT /p' /tmp/vusb.log
sed -n 's/^/CMD-RUN /p' /tmp/cmd.log 2>/dev/null
echo "DEVICES-DONE"
tail -f /tmp/periscope.log
