# Guest helpers for gpio-sim, the kernel's configfs GPIO simulator (busybox sh). Use:
#   . /cases/gpiosim-lib.sh          # sources /vm/lib.sh if the case has not
# gpio-sim.ko comes from the host: tests/vm/gpio-sim.sh builds it for the bench kernel, a case
# gets it by `--file "$(tests/vm/gpio-sim.sh):/gpiosim/gpio-sim.ko"`.
# shellcheck shell=dash
#
# Layout (kernel 6.1, seen in the guest):
#   /sys/kernel/config/gpio-sim/NAME/            live (0/1), dev_name (gpio-sim.N)
#   /sys/kernel/config/gpio-sim/NAME/bank0/      num_lines, label, chip_name (gpiochipM)
#   /sys/kernel/config/gpio-sim/NAME/bank0/lineI/name
#   /sys/devices/platform/gpio-sim.N/gpiochipM/sim_gpioI/{value,pull}
#     (= /sys/bus/gpio/devices/gpiochipM/sim_gpioI): value is the line's level (read only:
#     writing gives EPERM); pull takes pull-up/pull-down, the outside world driving the line.
#   /dev/gpiochipM, and the legacy sysfs numbering /sys/class/gpio/gpiochipB (B = base).
# gpio-sim's semantics: a line nobody drives as an output takes its pull's value (also while a
# consumer reads it as an input: pulls then raise edge interrupts); a line a consumer drives as
# an output shows the consumer's value and ignores pulls. Lines are inputs pulled down at start.
# Helpers print diagnostics on stderr (`gpiosim: ...`) and return non-zero on failure.

command -v vm_wait > /dev/null 2>&1 || . /vm/lib.sh
GPIOSIM_CFS=/sys/kernel/config/gpio-sim

_gpiosim_err() { echo "gpiosim: $*" >&2; return 1; }

# gpiosim_load KO: load gpio-sim.ko (once) and its dependencies (configfs; gpiolib is built
# into Debian's kernel), and mount configfs if it is not mounted yet.
gpiosim_load() {
  local _m
  [ -f "$1" ] || { _gpiosim_err "no module file $1"; return 1; }
  if ! grep -q '^gpio_sim ' /proc/modules; then
    for _m in $(modinfo -F depends "$1" 2> /dev/null | tr ',' ' ') configfs; do
      grep -q "^$_m " /proc/modules || modprobe "$_m" ||
        { _gpiosim_err "modprobe $_m failed"; return 1; }
    done
    grep -q ' /sys/kernel/config configfs ' /proc/mounts ||
      mount -t configfs configfs /sys/kernel/config ||
      { _gpiosim_err "cannot mount configfs"; return 1; }
    insmod "$1" || { _gpiosim_err "insmod $1 failed: $(dmesg | tail -n 3)"; return 1; }
  fi
  [ -d "$GPIOSIM_CFS" ] || { _gpiosim_err "no $GPIOSIM_CFS after loading gpio-sim"; return 1; }
}

# gpiosim_chip NAME NLINES: create simulated device NAME with one bank of NLINES lines named
# line0..line<NLINES-1> and labelled NAME (the chip's label, as GPIO_GET_CHIPINFO reports it),
# enable it and print its character device (/dev/gpiochipM).
gpiosim_chip() {
  local _d="$GPIOSIM_CFS/$1" _i=0 _chip
  [ -n "$1" ] && [ "${2:-0}" -gt 0 ] 2> /dev/null ||
    { _gpiosim_err "usage: gpiosim_chip NAME NLINES"; return 1; }
  [ -d "$GPIOSIM_CFS" ] || { _gpiosim_err "gpio-sim is not loaded (gpiosim_load KO)"; return 1; }
  mkdir "$_d" "$_d/bank0" || { _gpiosim_err "cannot create $_d"; return 1; }
  echo "$2" > "$_d/bank0/num_lines" && echo "$1" > "$_d/bank0/label" ||
    { _gpiosim_err "cannot configure $_d/bank0"; return 1; }
  while [ "$_i" -lt "$2" ]; do
    mkdir "$_d/bank0/line$_i" && echo "line$_i" > "$_d/bank0/line$_i/name" ||
      { _gpiosim_err "cannot name line $_i of $1"; return 1; }
    _i=$((_i + 1))
  done
  # Writing live probes the platform device synchronously (EBUSY/EINVAL on a bad config).
  echo 1 > "$_d/live" || { _gpiosim_err "cannot enable $1: $(dmesg | tail -n 3)"; return 1; }
  _chip=$(cat "$_d/bank0/chip_name") && [ -n "$_chip" ] ||
    { _gpiosim_err "$1 is live but has no chip_name"; return 1; }
  vm_wait "/dev/$_chip" 5 || { _gpiosim_err "no /dev/$_chip"; return 1; }
  echo "/dev/$_chip"
}

# gpiosim_sysfs NAME LINE: print the sysfs directory of LINE (sim_gpioLINE, holding value and
# pull). NAME: the name given to gpiosim_chip (or a chip name, gpiochipM).
gpiosim_sysfs() {
  local _d="$GPIOSIM_CFS/$1" _dir
  if [ -d "$_d" ]; then
    [ "$(cat "$_d/live")" = 1 ] || { _gpiosim_err "$1 is not live"; return 1; }
    _dir=/sys/devices/platform/$(cat "$_d/dev_name")/$(cat "$_d/bank0/chip_name")
  else
    _dir=/sys/bus/gpio/devices/$1
  fi
  [ -d "$_dir/sim_gpio$2" ] || { _gpiosim_err "no line '$2' in $1 ($_dir/sim_gpio$2)"; return 1; }
  echo "$_dir/sim_gpio$2"
}

# gpiosim_value NAME LINE: print the line's current value (0/1): what a consumer drives on an
# output line, the pull on an input line.
gpiosim_value() {
  local _s
  _s=$(gpiosim_sysfs "$1" "$2") || return 1
  cat "$_s/value"
}

# gpiosim_pull NAME LINE up|down: drive the line from the outside (a button, a LED's sense).
gpiosim_pull() {
  local _s
  case $3 in up | down) ;; *) _gpiosim_err "gpiosim_pull NAME LINE up|down, not '$3'"; return 1;; esac
  _s=$(gpiosim_sysfs "$1" "$2") || return 1
  echo "pull-$3" > "$_s/pull" || { _gpiosim_err "cannot pull $1 line $2 $3"; return 1; }
}

# gpiosim_remove NAME: disable the device (its consumers must have released the lines, or the
# chip lingers until they do) and remove its configfs tree.
gpiosim_remove() {
  local _d="$GPIOSIM_CFS/$1" _l
  [ -d "$_d" ] || { _gpiosim_err "no $_d"; return 1; }
  [ "$(cat "$_d/live")" = 0 ] || echo 0 > "$_d/live" || { _gpiosim_err "cannot disable $1"; return 1; }
  for _l in "$_d"/bank*/line*; do [ ! -d "$_l" ] || rmdir "$_l" || return 1; done
  for _l in "$_d"/bank*; do [ ! -d "$_l" ] || rmdir "$_l" || return 1; done
  rmdir "$_d" || { _gpiosim_err "cannot remove $_d"; return 1; }
}
