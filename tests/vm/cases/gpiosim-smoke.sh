#!/bin/sh
# Guest case: gpio-sim (built by tests/vm/gpio-sim.sh) gives the guest a real GPIO chip, and
# gpio-watch sees an input line's transitions. From the repository root:
#
#   cargo build --release --features vm-bench --bin gpio-watch
#   tests/vm/run.sh --file "$(tests/vm/gpio-sim.sh):/gpiosim/gpio-sim.ko" \
#     --file tests/vm/cases:/cases --file target/release/gpio-watch:/usr/bin/gpio-watch \
#     -- /cases/gpiosim-smoke.sh
#
# Prints `PASS gpiosim-smoke` and exits 0. Checks: a 4-line chip with named lines; pulls move an
# unrequested input line (sysfs value); an output driven through /sys/class/gpio shows in
# sim_gpioN/value and ignores pulls; pulls on a requested input with `edge` set raise interrupts
# (irq_sim linked into the module, see gpio-sim.sh); gpio-watch reports 0->1->0 of a value file
# with CLOCK_MONOTONIC stamps ~0.2 s apart, exits 1 on timeout and 2 on a bad path; the chip
# goes away with gpiosim_remove. ARGS: [KO=/gpiosim/gpio-sim.ko]
. /vm/lib.sh
. /cases/gpiosim-lib.sh
KO=${1:-/gpiosim/gpio-sim.ko}
fail() {
  echo "FAIL: $*"
  for f in /tmp/watch.out /tmp/watch.err; do [ ! -s $f ] || { echo "--- $f"; cat $f; }; done
  dmesg | tail -n 8
  exit 1
}
expect() { # expect WHAT WANT GOT
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
  echo "ok: $1 = $3"
}
command -v gpio-watch > /dev/null || fail "no gpio-watch in PATH"

gpiosim_load "$KO" || fail "gpiosim_load $KO"
dev=$(gpiosim_chip smoke 4) || fail "gpiosim_chip smoke 4"
echo "chip: $dev ($(cat /sys/kernel/config/gpio-sim/smoke/dev_name))"
[ -c "$dev" ] || fail "$dev is not a character device"
chip=${dev#/dev/}
# Line names and the label, as gpiolib sees them (debugfs is mounted by init).
grep -A4 "^$chip:" /sys/kernel/debug/gpio
grep -q "^$chip: GPIOs .*, parent: platform/gpio-sim\.[0-9]*, smoke," /sys/kernel/debug/gpio ||
  fail "$chip (label smoke) not in debugfs gpio"
grep -A4 "^$chip:" /sys/kernel/debug/gpio | grep -q "gpio-[0-9]* *(line3 *)" || fail "line names not set"
sys1=$(gpiosim_sysfs smoke 1) || fail "gpiosim_sysfs smoke 1"
echo "line 1: $sys1"

# 1. An input nobody requested follows its pull.
expect "line 1 at start" 0 "$(gpiosim_value smoke 1)"
gpiosim_pull smoke 1 up || fail "pull up"
expect "line 1 pulled up" 1 "$(gpiosim_value smoke 1)"
expect "line 1 pull attribute" pull-up "$(cat "$sys1/pull")"
gpiosim_pull smoke 1 down || fail "pull down"
expect "line 1 pulled down" 0 "$(gpiosim_value smoke 1)"
gpiosim_pull smoke 1 sideways 2> /dev/null && fail "gpiosim_pull accepted 'sideways'"
echo 1 > "$sys1/value" 2> /dev/null && fail "sim_gpio1/value is writable"

# 2. An output a consumer drives (the legacy sysfs interface: global number = base + offset).
base=$(cat /sys/devices/platform/*/gpio/gpiochip*/base) || fail "no gpio sysfs base"
n2=$((base + 2))
echo $n2 > /sys/class/gpio/export || fail "export gpio $n2"
echo out > /sys/class/gpio/gpio$n2/direction || fail "direction out"
echo 1 > /sys/class/gpio/gpio$n2/value || fail "drive 1"
expect "line 2 driven 1" 1 "$(gpiosim_value smoke 2)"
gpiosim_pull smoke 2 down || fail "pull line 2"
expect "line 2 driven 1, pulled down" 1 "$(gpiosim_value smoke 2)"
echo 0 > /sys/class/gpio/gpio$n2/value || fail "drive 0"
expect "line 2 driven 0" 0 "$(gpiosim_value smoke 2)"
echo $n2 > /sys/class/gpio/unexport || fail "unexport gpio $n2"

# 3. A requested input with edge detection: pulls raise the simulated interrupt.
n0=$base
echo $n0 > /sys/class/gpio/export || fail "export gpio $n0"
echo in > /sys/class/gpio/gpio$n0/direction && echo both > /sys/class/gpio/gpio$n0/edge ||
  fail "input with edge=both"
irqs() { awk '/gpiolib/ { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts; }
grep gpiolib /proc/interrupts || fail "no gpiolib interrupt in /proc/interrupts"
before=$(irqs)
gpiosim_pull smoke 0 up && gpiosim_pull smoke 0 down || fail "pull line 0"
expect "gpio$n0 value after up/down" 0 "$(cat /sys/class/gpio/gpio$n0/value)"
_vm_deadline 5
until [ "$(irqs)" -ge $((before + 2)) ]; do
  _vm_expired && fail "edge interrupts: $before before, $(irqs) after two pulls"
  sleep 0.1
done
echo "ok: edge interrupts $before -> $(irqs)"
echo $n0 > /sys/class/gpio/unexport || fail "unexport gpio $n0"

# 4. gpio-watch on line 3's value file (an input), pulled up, 0.2 s, down.
sys3=$(gpiosim_sysfs smoke 3) || fail "gpiosim_sysfs smoke 3"
gpio-watch "$sys3/value" --transitions 2 --timeout 20 > /tmp/watch.out 2> /tmp/watch.err &
watch=$!
vm_wait_grep /tmp/watch.err 'watching' 10 || fail "gpio-watch did not start"
gpiosim_pull smoke 3 up || fail "pull line 3 up"
sleep 0.2
gpiosim_pull smoke 3 down || fail "pull line 3 down"
wait $watch
rc=$?
cat /tmp/watch.err
cat /tmp/watch.out
expect "gpio-watch exit status" 0 $rc
expect "gpio-watch transitions" "value=1 value=0" "$(awk '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }' /tmp/watch.out)"
grep -Eqx 't_ms=[0-9]+\.[0-9]{3} value=[01]' /tmp/watch.out || fail "gpio-watch line format"
gap=$(awk -F'[= ]' 'NR == 1 { a = $2 } NR == 2 { printf "%d", $2 - a }' /tmp/watch.out)
# Stamps are CLOCK_MONOTONIC; /proc/uptime (CLOCK_BOOTTIME) agrees in a VM that never suspends.
up=$(awk '{ printf "%d", $1 * 1000 }' /proc/uptime)
last=$(awk -F'[= ]' 'END { printf "%d", $2 }' /tmp/watch.out)
echo "gap ${gap} ms between up and down; last stamp ${last} ms, uptime ${up} ms"
[ "$gap" -ge 150 ] || fail "transitions ${gap} ms apart, the pulls were >= 200 ms apart"
[ "$last" -le "$up" ] && [ $((up - last)) -lt 10000 ] || fail "t_ms is not CLOCK_MONOTONIC-like"

# 5. gpio-watch's other exits: 1 on timeout (no change), 2 on a bad path.
gpio-watch "$sys3/value" --timeout 0.3 > /tmp/watch.out 2> /tmp/watch.err
expect "gpio-watch exit on timeout" 1 $?
[ ! -s /tmp/watch.out ] || fail "gpio-watch printed a transition that did not happen"
gpio-watch /sys/nonexistent/value --timeout 1 > /dev/null 2> /tmp/watch.err
expect "gpio-watch exit on a bad path" 2 $?
grep -q 'gpio-watch: /sys/nonexistent/value: ' /tmp/watch.err || fail "gpio-watch error message"
: > /tmp/watch.err

# 6. Teardown.
gpiosim_remove smoke || fail "gpiosim_remove smoke"
vm_wait_cmd 5 sh -c "[ ! -e $dev ]" || fail "$dev still there after gpiosim_remove"
echo "ok: $dev removed"
echo "PASS gpiosim-smoke"
