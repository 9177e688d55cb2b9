# Helpers for guest scripts of periscope's test VM (busybox sh). Use:  . /vm/lib.sh
# shellcheck shell=dash disable=SC2034  # busybox ash has `local`; VM_* are for the callers
#
# Every helper prints its diagnostics to stderr and returns non-zero on failure; timeouts are
# in seconds (decimals allowed, e.g. 0.5). Names starting with _vm are internal, except the
# deadline helpers _vm_deadline/_vm_expired, which scripts use for their own wait loops:
#   _vm_deadline 30; until something; do _vm_expired && vm_fail "timeout"; sleep 0.2; done

# ------------------------------------------------------------------------------ basics
# vm_log MSG: a diagnostic line on stderr.
vm_log() { echo "vm: $*" >&2; }

# vm_fail MSG: print "FAIL: MSG" and exit 1.
vm_fail() { echo "FAIL: $*"; exit 1; }

# _vm_now: VM_NOW = centiseconds since boot, from /proc/uptime, without forking.
_vm_now() {
  read -r _vm_up _vm_rest < /proc/uptime
  _vm_frac=${_vm_up#*.}; _vm_frac=${_vm_frac#0}
  VM_NOW=$(( ${_vm_up%.*} * 100 + _vm_frac ))
}

# _vm_cs SECONDS: _VM_CS = SECONDS (e.g. 10, 0.5, 2.25) in centiseconds.
_vm_cs() {
  case $1 in
    *.*) _vm_i=${1%%.*}; _vm_f=${1#*.}00; _vm_f=${_vm_f%"${_vm_f#??}"}; _vm_f=${_vm_f#0}
         _VM_CS=$(( ${_vm_i:-0} * 100 + _vm_f ));;
    *) _VM_CS=$(( $1 * 100 ));;
  esac
}

# _vm_deadline SECONDS [VAR=VM_DEADLINE]: set VAR to the uptime (centiseconds) SECONDS from now.
_vm_deadline() {
  _vm_now; _vm_cs "$1"
  eval "${2:-VM_DEADLINE}=\$(( VM_NOW + _VM_CS ))"
}

# _vm_expired [VAR=VM_DEADLINE]: true once the deadline in VAR has passed.
_vm_expired() {
  _vm_now
  eval "[ \"\$VM_NOW\" -ge \"\${${1:-VM_DEADLINE}}\" ]"
}

# vm_wait PATH [SECONDS=10]: wait until PATH exists.
vm_wait() {
  local _end
  _vm_deadline "${2:-10}" _end
  while [ ! -e "$1" ]; do
    _vm_expired _end && { vm_log "timeout waiting for $1"; return 1; }
    sleep 0.1
  done
}

# vm_wait_cmd SECONDS CMD...: run CMD (output discarded) every 0.2 s until it succeeds.
vm_wait_cmd() {
  local _end
  _vm_deadline "$1" _end; shift
  until "$@" > /dev/null 2>&1; do
    _vm_expired _end && { vm_log "timeout waiting for: $*"; return 1; }
    sleep 0.2
  done
}

# vm_wait_grep FILE ERE [SECONDS=10]: wait until a line of FILE matches the extended regex ERE.
vm_wait_grep() {
  local _end
  _vm_deadline "${3:-10}" _end
  until grep -qE -- "$2" "$1" 2> /dev/null; do
    _vm_expired _end && { vm_log "timeout waiting for /$2/ in $1"; return 1; }
    sleep 0.1
  done
}

# ------------------------------------------------------------------------------ periscope
# vm_serve ARGS...: starts `periscope --listen 0.0.0.0:8443 --state-dir /tmp/state ARGS` in the
# background (log: /tmp/periscope.log) and waits, at most 60 s, until it listens on 8443
# (LISTEN on :20FB in /proc/net/tcp: no client tool needed). VM_PID is its pid. If it exits
# or never listens: vm_periscope_exited.
vm_serve() {
  mkdir -p /tmp/state
  periscope --listen 0.0.0.0:8443 --state-dir /tmp/state "$@" > /tmp/periscope.log 2>&1 &
  VM_PID=$!
  _vm_i=0
  until grep -q ':20FB 00000000:0000 0A' /proc/net/tcp 2>/dev/null; do
    _vm_i=$((_vm_i + 1))
    if ! kill -0 "$VM_PID" 2>/dev/null || [ "$_vm_i" -gt 600 ]; then vm_periscope_exited; fi
    sleep 0.1
  done
}

# vm_periscope_exited: prints PERISCOPE-EXITED and periscope's log, then exits 1.
vm_periscope_exited() { echo "PERISCOPE-EXITED"; cat /tmp/periscope.log; exit 1; }

# ------------------------------------------------------------------------------ vivid (HDMI input)
# These need v4l2-ctl in the guest (the host test passes /usr/bin/v4l2-ctl with --file).

# vm_vivid_preset PATTERN [DEV]: prints the index of the first entry of vivid's dv_timings menu
# whose name starts with PATTERN (640x480p, 1280x720p2 for 24/25 Hz, ...).
vm_vivid_preset() {
  v4l2-ctl -d "${2:-/dev/video0}" --list-ctrls-menus | awk -v pat="$1" '
    /^ *dv_timings / { on = 1; next }
    on && /^ *[a-z_]+ .*0x/ { on = 0 }
    on && $2 ~ "^" pat { sub(":", "", $1); print $1; exit }'
}

# vm_vivid_timings PATTERN [DEV]: makes vivid's HDMI input receive the first preset matching
# PATTERN ("Selected DV Timings" signal mode, which raises a source-change event).
vm_vivid_timings() {
  local _dev="${2:-/dev/video0}" _i
  _i=$(vm_vivid_preset "$1" "$_dev")
  [ -n "$_i" ] || { vm_log "no vivid preset $1"; return 1; }
  v4l2-ctl -d "$_dev" -c "dv_timings=$_i" && v4l2-ctl -d "$_dev" -c dv_timings_signal_mode=4
}

# ------------------------------------------------------------------------------ input events
# vm_input_devices: one line per evdev node: "/dev/input/eventN NAME|PHYS".
vm_input_devices() {
  for _vm_e in /sys/class/input/event*; do
    [ -e "$_vm_e/device/name" ] || continue
    _vm_nm=""; _vm_ph=""
    read -r _vm_nm < "$_vm_e/device/name"; read -r _vm_ph < "$_vm_e/device/phys" 2> /dev/null
    echo "/dev/input/${_vm_e##*/} $_vm_nm|$_vm_ph"
  done
}

# vm_input_dev 'NAME|PHYS GLOB' [SECONDS=10]: wait for the first input device whose
# "NAME|PHYS" matches the shell glob, print its /dev/input/eventN. E.g. '*|usb-dummy_hcd.0-1/input1'
# (2nd interface of the first device on dummy_hcd.0) or 'Periscope*|*'.
vm_input_dev() {
  local _end
  _vm_deadline "${2:-10}" _end
  while :; do
    for _vm_e in /sys/class/input/event*; do
      [ -e "$_vm_e/device/name" ] || continue
      _vm_nm=""; _vm_ph=""
      read -r _vm_nm < "$_vm_e/device/name"; read -r _vm_ph < "$_vm_e/device/phys" 2> /dev/null
      # shellcheck disable=SC2254
      case "$_vm_nm|$_vm_ph" in
        $1) vm_wait "/dev/input/${_vm_e##*/}" 5 || return 1
            echo "/dev/input/${_vm_e##*/}"; return 0;;
      esac
    done
    _vm_expired _end && { vm_log "no input device matching '$1'"; vm_input_devices >&2; return 1; }
    sleep 0.1
  done
}

VM_EV_PIDS=""
# vm_ev_start DEV FILE: record DEV's raw input events into FILE with a background `cat`;
# returns once the recorder has DEV open (events from then on are in FILE).
vm_ev_start() {
  local _end _dev _fd _pid
  _dev=$(readlink -f "$1") || _dev=$1
  [ -c "$_dev" ] || { vm_log "vm_ev_start: $1 is not a device"; return 1; }
  cat "$_dev" > "$2" &
  _pid=$!
  VM_EV_PIDS="$VM_EV_PIDS $_pid"
  _vm_deadline 5 _end
  while :; do
    for _fd in /proc/$_pid/fd/*; do
      [ "$(readlink "$_fd" 2> /dev/null)" = "$_dev" ] && return 0
    done
    kill -0 "$_pid" 2> /dev/null || { vm_log "vm_ev_start: cannot read $1"; return 1; }
    _vm_expired _end && { vm_log "vm_ev_start: $1 not open after 5 s"; return 1; }
    sleep 0.05
  done
}

# vm_ev_stop [SETTLE_SECONDS=0.5]: wait SETTLE seconds for late events, then stop every
# recorder vm_ev_start started.
vm_ev_stop() {
  sleep "${1:-0.5}"
  for _vm_p in $VM_EV_PIDS; do kill "$_vm_p" 2> /dev/null; wait "$_vm_p" 2> /dev/null; done
  VM_EV_PIDS=""
  return 0
}

# vm_ev_decode [-a] [-t] FILE: one "TYPE CODE VALUE" line per event (struct input_event of a
# 64-bit kernel: 24 bytes), decimal; EV_SYN (type 0) is left out unless -a; -t prefixes the
# event's timestamp as "SECONDS.MICROSECONDS". Types: 1 EV_KEY, 2 EV_REL, 3 EV_ABS, 4 EV_MSC.
# Codes: linux/input-event-codes.h (KEY_A 30, BTN_LEFT 272, ABS_X 0, ABS_Y 1, REL_WHEEL 8).
vm_ev_decode() {
  local _all=0 _ts=0
  while :; do
    case $1 in -a) _all=1; shift;; -t) _ts=1; shift;; -at|-ta) _all=1; _ts=1; shift;; *) break;; esac
  done
  [ -f "$1" ] || { vm_log "vm_ev_decode: no file $1"; return 1; }
  od -An -v -w24 -t d4 "$1" | awk -v all="$_all" -v ts="$_ts" '
    NF == 6 {
      t = $5 % 65536; if (t < 0) t += 65536; c = int(($5 - t) / 65536)
      if (t == 0 && !all) next
      if (ts) printf "%d.%06d ", $1, $3
      print t, c, $6
    }'
}

# vm_ev_keys FILE: the EV_KEY presses and releases recorded in FILE, "1 CODE VALUE" per event
# (autorepeat, value 2, left out).
vm_ev_keys() {
  vm_ev_decode "$1" | awk '$1 == 1 && $3 != 2'
}

# vm_ev_held FILE: the EV_KEY codes (keys and buttons) still down at the end of FILE, one a line.
vm_ev_held() {
  vm_ev_decode "$1" | awk '$1 == 1 && $3 != 2 { down[$2] = $3 }
    END { for (c in down) if (down[c]) print c }'
}

# _vm_le VALUE BYTES: VALUE as BYTES little-endian printf escapes (two's complement if < 0).
_vm_le() {
  local _v=$1 _n=$2 _s=""
  [ "$_v" -lt 0 ] && _v=$(( _v + (1 << (8 * _n)) ))
  while [ "$_n" -gt 0 ]; do
    _s="$_s\\x$(printf %02x $(( _v & 255 )))"; _v=$(( _v >> 8 )); _n=$(( _n - 1 ))
  done
  echo "$_s"
}

# vm_ev_write DEV TYPE CODE VALUE: inject one event and a SYN_REPORT into an evdev node, as
# a desktop does (e.g. vm_ev_write /dev/input/event2 17 1 1: EV_LED LED_CAPSL on, which the
# kernel sends to the keyboard as an output report). One write of two 24-byte input_events.
vm_ev_write() {
  local _z='\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' _f=/tmp/.vm-ev.$$
  # shellcheck disable=SC2059
  printf "$_z$(_vm_le "$2" 2)$(_vm_le "$3" 2)$(_vm_le "$4" 4)$_z\x00\x00\x00\x00\x00\x00\x00\x00" > "$_f"
  dd if="$_f" of="$1" bs=48 count=1 2> /dev/null || { rm -f "$_f"; vm_log "vm_ev_write: cannot write $1"; return 1; }
  rm -f "$_f"
}

# ------------------------------------------------------------------------------ USB host side
# vm_usb_devices [-a]: one line per enumerated USB device: "BUSPATH VID:PID DRIVERS PRODUCT",
# DRIVERS the comma-separated interface drivers ("-" if none). Root hubs only with -a.
vm_usb_devices() {
  for _vm_d in /sys/bus/usb/devices/*; do
    [ -f "$_vm_d/idVendor" ] || continue
    case ${_vm_d##*/} in usb*) [ "$1" = -a ] || continue;; esac
    _vm_drv=""
    for _vm_i in "$_vm_d"/"${_vm_d##*/}":*; do
      [ -L "$_vm_i/driver" ] || continue
      _vm_n=$(readlink "$_vm_i/driver"); _vm_n=${_vm_n##*/}
      case ",$_vm_drv," in *",$_vm_n,"*) ;; *) _vm_drv=${_vm_drv:+$_vm_drv,}$_vm_n;; esac
    done
    read -r _vm_v < "$_vm_d/idVendor"; read -r _vm_p < "$_vm_d/idProduct"
    _vm_pr=""; read -r _vm_pr < "$_vm_d/product" 2> /dev/null
    echo "${_vm_d##*/} $_vm_v:$_vm_p ${_vm_drv:--} $_vm_pr"
  done
}

# vm_usb_wait VID:PID [SECONDS=10]: wait until a USB device VID:PID (hex, e.g. 1d6b:0104) is
# enumerated; print its bus path (e.g. 1-1).
vm_usb_wait() {
  local _end _want
  _want=$(echo "$1" | tr 'A-F' 'a-f'); _want=${_want#0x}; _want=$(echo "$_want" | sed 's/:0x/:/')
  _vm_deadline "${2:-10}" _end
  while :; do
    for _vm_d in /sys/bus/usb/devices/*; do
      [ -f "$_vm_d/idVendor" ] || continue
      read -r _vm_v < "$_vm_d/idVendor"; read -r _vm_p < "$_vm_d/idProduct"
      [ "$_vm_v:$_vm_p" = "$_want" ] && { echo "${_vm_d##*/}"; return 0; }
    done
    _vm_expired _end && { vm_log "no USB device $1"; return 1; }
    sleep 0.1
  done
}

# vm_usb_authorize BUSPATH 0|1 [SECONDS=15]: de-authorize a USB device in sysfs (the host
# side unconfigures it: its interfaces, drivers and their /dev nodes go away, as on unplug) or
# authorize it again (it is configured and its drivers bind, as on replug); waits for that.
vm_usb_authorize() {
  local _d=/sys/bus/usb/devices/$1 _end _i _ok
  [ -f "$_d/authorized" ] || { vm_log "vm_usb_authorize: no USB device $1"; return 1; }
  echo "$2" > "$_d/authorized" || { vm_log "vm_usb_authorize: cannot write $2 to $_d/authorized"; return 1; }
  _vm_deadline "${3:-15}" _end
  while :; do
    _ok=1
    if [ "$2" = 0 ]; then
      for _i in "$_d/$1":*; do [ -e "$_i" ] && _ok=0; done
    else
      [ -n "$(cat "$_d/bConfigurationValue" 2> /dev/null)" ] || _ok=0
      for _i in "$_d/$1":*; do [ -e "$_i" ] && { [ -L "$_i/driver" ] || _ok=0; }; done
    fi
    [ "$_ok" = 1 ] && return 0
    _vm_expired _end && { vm_log "vm_usb_authorize: $1 not done after authorized=$2"; return 1; }
    sleep 0.1
  done
}

# _vm_usb_of SYSFS_DEVICE_DIR: print "VID:PID" of the USB device above a sysfs device.
_vm_usb_of() {
  _vm_x=$(readlink -f "$1")
  while [ -n "$_vm_x" ] && [ "$_vm_x" != / ]; do
    if [ -f "$_vm_x/idVendor" ]; then
      read -r _vm_v < "$_vm_x/idVendor"; read -r _vm_p < "$_vm_x/idProduct"
      echo "$_vm_v:$_vm_p"; return 0
    fi
    _vm_x=${_vm_x%/*}
  done
  return 1
}

# _vm_usb_match WANT SYSFS_DEVICE_DIR: true if the device sits on USB, and on device WANT
# (VID:PID) if WANT is not empty.
_vm_usb_match() {
  _vm_id=$(_vm_usb_of "$2") || return 1
  [ -z "$1" ] && return 0
  _vm_w=$(echo "$1" | tr 'A-F' 'a-f' | sed 's/0x//g')
  [ "$_vm_id" = "$_vm_w" ]
}

# vm_usb_disk [VID:PID] [SECONDS=10]: wait for the disk (/dev/sdX) or CD-ROM (/dev/srN) of a
# USB mass-storage device (of VID:PID, if given and not ""); print its /dev node. A removable
# LUN without a medium counts (size 0).
vm_usb_disk() {
  local _end
  _vm_deadline "${2:-10}" _end
  while :; do
    for _vm_b in /sys/class/block/sd* /sys/class/block/sr*; do
      [ -e "$_vm_b/device" ] || continue   # partitions have no device link
      _vm_usb_match "$1" "$_vm_b/device" || continue
      [ -b "/dev/${_vm_b##*/}" ] && { echo "/dev/${_vm_b##*/}"; return 0; }
    done
    _vm_expired _end && { vm_log "no USB disk${1:+ of $1}"; return 1; }
    sleep 0.1
  done
}

# vm_usb_tty [VID:PID] [SECONDS=10]: wait for the /dev/ttyACMn of a USB ACM device (of VID:PID,
# if given and not ""); print it.
vm_usb_tty() {
  local _end
  _vm_deadline "${2:-10}" _end
  while :; do
    for _vm_t in /sys/class/tty/ttyACM*; do
      [ -e "$_vm_t/device" ] || continue
      _vm_usb_match "$1" "$_vm_t/device" || continue
      [ -c "/dev/${_vm_t##*/}" ] && { echo "/dev/${_vm_t##*/}"; return 0; }
    done
    _vm_expired _end && { vm_log "no USB ACM tty${1:+ of $1}"; return 1; }
    sleep 0.1
  done
}

# ------------------------------------------------------------------------------ gadgets (configfs)
VM_GADGETS=/sys/kernel/config/usb_gadget

# vm_gadget_create NAME [VID=0x1d6b PID=0x0104 MANUFACTURER=Periscope PRODUCT="VM Gadget"]:
# a configfs gadget with English strings and one configuration c.1.
vm_gadget_create() {
  local _g=$VM_GADGETS/$1
  [ -n "$1" ] || { vm_log "vm_gadget_create: no name"; return 1; }
  mkdir "$_g" || { vm_log "vm_gadget_create: cannot create $_g"; return 1; }
  echo "${2:-0x1d6b}" > "$_g/idVendor"; echo "${3:-0x0104}" > "$_g/idProduct"
  echo 0x0200 > "$_g/bcdUSB"; echo 0x0100 > "$_g/bcdDevice"
  mkdir -p "$_g/strings/0x409" "$_g/configs/c.1/strings/0x409"
  echo "${4:-Periscope}" > "$_g/strings/0x409/manufacturer"
  echo "${5:-VM Gadget}" > "$_g/strings/0x409/product"
  echo "0123456789" > "$_g/strings/0x409/serialnumber"
  echo "c1" > "$_g/configs/c.1/strings/0x409/configuration"
  echo 250 > "$_g/configs/c.1/MaxPower"
}

# vm_gadget_function NAME TYPE.INSTANCE [ATTR=VALUE...]: create a function (e.g. acm.usb0,
# mass_storage.0 lun.0/file=/tmp/disk.img, hid.kbd protocol=1) and set its attributes.
vm_gadget_function() {
  local _f=$VM_GADGETS/$1/functions/$2 _kv
  mkdir "$_f" || { vm_log "vm_gadget_function: cannot create $2 (module? minors?)"; return 1; }
  shift 2
  for _kv in "$@"; do
    echo "${_kv#*=}" > "$_f/${_kv%%=*}" || { vm_log "vm_gadget_function: cannot set $_kv"; return 1; }
  done
}

# vm_gadget_link NAME TYPE.INSTANCE [CONFIG=c.1]: add a function to a configuration; the host
# sees the interfaces in link order.
vm_gadget_link() {
  ln -s "$VM_GADGETS/$1/functions/$2" "$VM_GADGETS/$1/configs/${3:-c.1}/" ||
    { vm_log "vm_gadget_link: cannot link $2"; return 1; }
}

# Report descriptors (HID 1.11 appendix E.6 and the usage tables, built byte by byte):
# boot keyboard, 8-byte reports (modifiers, reserved, 6 key codes) and a 1-byte LED output
# report; absolute mouse, 6-byte reports (buttons, X lo/hi, Y lo/hi 0..32767, wheel -127..127).
VM_KBD_DESC='\x05\x01\x09\x06\xa1\x01\x05\x07\x19\xe0\x29\xe7\x15\x00\x25\x01\x75\x01\x95\x08\x81\x02\x95\x01\x75\x08\x81\x03\x95\x05\x75\x01\x05\x08\x19\x01\x29\x05\x91\x02\x95\x01\x75\x03\x91\x03\x95\x06\x75\x08\x15\x00\x25\x65\x05\x07\x19\x00\x29\x65\x81\x00\xc0'
VM_MOUSE_DESC='\x05\x01\x09\x02\xa1\x01\x09\x01\xa1\x00\x05\x09\x19\x01\x29\x08\x15\x00\x25\x01\x95\x08\x75\x01\x81\x02\x05\x01\x09\x30\x09\x31\x15\x00\x26\xff\x7f\x75\x10\x95\x02\x81\x02\x09\x38\x15\x81\x25\x7f\x75\x08\x95\x01\x81\x06\xc0\xc0'

# vm_gadget_hid [NAME=vm]: a keyboard (hid.kbd) and an absolute mouse (hid.mouse) on gadget
# NAME (created if missing), bound to the first UDC. Sets VM_KBD_HIDG / VM_MOUSE_HIDG (the
# gadget side's /dev/hidgN) and VM_KBD_EV / VM_MOUSE_EV (the /dev/input/eventN the same
# kernel's host side made of them).
vm_gadget_hid() {
  local _n=${1:-vm}
  [ -d "$VM_GADGETS/$_n" ] || vm_gadget_create "$_n" 0x1d6b 0x0104 Periscope "VM HID" || return 1
  vm_gadget_function "$_n" hid.kbd protocol=1 subclass=1 report_length=8 || return 1
  printf "$VM_KBD_DESC" > "$VM_GADGETS/$_n/functions/hid.kbd/report_desc" || return 1
  vm_gadget_function "$_n" hid.mouse protocol=0 subclass=0 report_length=6 || return 1
  printf "$VM_MOUSE_DESC" > "$VM_GADGETS/$_n/functions/hid.mouse/report_desc" || return 1
  vm_gadget_link "$_n" hid.kbd && vm_gadget_link "$_n" hid.mouse || return 1
  vm_gadget_bind "$_n" || return 1
  VM_KBD_HIDG=$(_vm_gadget_hidg "$_n" hid.kbd) && VM_MOUSE_HIDG=$(_vm_gadget_hidg "$_n" hid.mouse) || return 1
  VM_KBD_EV=$(vm_gadget_input "$_n" hid.kbd) && VM_MOUSE_EV=$(vm_gadget_input "$_n" hid.mouse) || return 1
  export VM_KBD_HIDG VM_MOUSE_HIDG VM_KBD_EV VM_MOUSE_EV
}

# _vm_gadget_hidg NAME hid.X [SECONDS=5]: the gadget side's /dev/hidgN of a hid function.
_vm_gadget_hidg() {
  local _dev _h
  read -r _dev < "$VM_GADGETS/$1/functions/$2/dev" || return 1
  for _h in /sys/class/hidg/hidg*; do
    [ "$(cat "$_h/dev" 2> /dev/null)" = "$_dev" ] || continue
    vm_wait "/dev/${_h##*/}" "${3:-5}" || return 1
    echo "/dev/${_h##*/}"; return 0
  done
  vm_log "no /dev/hidg* for $1/$2 ($_dev)"
  return 1
}

# _vm_gadget_host NAME: the host-side sysfs directory of bound gadget NAME (dummy_udc.N is
# seen by dummy_hcd.N; the gadget is the root hub's port 1 device).
_vm_gadget_host() {
  local _u _r
  read -r _u < "$VM_GADGETS/$1/UDC" 2> /dev/null
  [ -n "$_u" ] || return 1
  for _r in /sys/devices/platform/dummy_hcd."${_u##*.}"/usb*; do
    [ -d "$_r" ] || continue
    echo "$_r/${_r##*/usb}-1"; return 0
  done
  return 1
}

# vm_gadget_bind NAME [UDC=first in /sys/class/udc] [SECONDS=15]: bind the gadget and wait
# until the host side has configured it (binding again too soon upsets dummy_hcd).
vm_gadget_bind() {
  local _u=$2 _h _end
  [ -n "$_u" ] || for _u in /sys/class/udc/*; do _u=${_u##*/}; break; done
  [ -n "$_u" ] && [ -e "/sys/class/udc/$_u" ] || { vm_log "no UDC (is dummy_hcd loaded?)"; return 1; }
  echo "$_u" > "$VM_GADGETS/$1/UDC" || { vm_log "cannot bind $1 to $_u"; return 1; }
  _h=$(_vm_gadget_host "$1") || return 0   # not a dummy_udc: nothing to wait for
  _vm_deadline "${3:-15}" _end
  until [ -n "$(cat "$_h/bConfigurationValue" 2> /dev/null)" ]; do
    _vm_expired _end && { vm_log "gadget $1 not configured by the host side"; return 1; }
    sleep 0.1
  done
}

# vm_gadget_unbind NAME [SECONDS=10]: unbind the gadget and wait until the host side device is gone.
vm_gadget_unbind() {
  local _h _u="" _end
  read -r _u < "$VM_GADGETS/$1/UDC" 2> /dev/null
  [ -n "$_u" ] || return 0
  _h=$(_vm_gadget_host "$1")
  echo "" > "$VM_GADGETS/$1/UDC" || { vm_log "cannot unbind $1"; return 1; }
  [ -n "$_h" ] || return 0
  _vm_deadline "${2:-10}" _end
  while [ -e "$_h" ]; do
    _vm_expired _end && { vm_log "gadget $1: host side still has $_h"; return 1; }
    sleep 0.1
  done
}

# vm_gadget_input NAME hid.X [SECONDS=10]: print the /dev/input/eventN the host side created
# for hid function X of bound gadget NAME (matched by its report descriptor, on the gadget's
# own dummy_hcd bus).
vm_gadget_input() {
  local _h _end _e _x _desc=/tmp/.vm-desc.$$
  _h=$(_vm_gadget_host "$1") || { vm_log "gadget $1 is not bound"; return 1; }
  cat "$VM_GADGETS/$1/functions/$2/report_desc" > "$_desc" || return 1
  _vm_deadline "${3:-10}" _end
  while :; do
    for _e in /sys/class/input/event*; do
      _x=$(readlink -f "$_e/device" 2> /dev/null) || continue
      case $_x in "$_h"/*) ;; *) continue;; esac
      while [ "$_x" != / ] && [ ! -f "$_x/report_descriptor" ]; do _x=${_x%/*}; done
      [ -f "$_x/report_descriptor" ] && cmp -s "$_x/report_descriptor" "$_desc" || continue
      vm_wait "/dev/input/${_e##*/}" 5 || break
      rm -f "$_desc"; echo "/dev/input/${_e##*/}"; return 0
    done
    _vm_expired _end && { rm -f "$_desc"; vm_log "no input device for $1/$2"; return 1; }
    sleep 0.1
  done
}

# vm_gadget_remove [NAME=vm]: unbind and tear down a configfs gadget.
vm_gadget_remove() {
  local _g=$VM_GADGETS/${1:-vm} _x
  [ -d "$_g" ] || return 0
  vm_gadget_unbind "${1:-vm}"
  for _x in "$_g"/configs/*/*; do [ -L "$_x" ] && rm "$_x"; done
  for _x in "$_g"/configs/*/strings/*; do [ -d "$_x" ] && rmdir "$_x"; done
  for _x in "$_g"/configs/*; do [ -d "$_x" ] && rmdir "$_x"; done
  for _x in "$_g"/functions/*; do [ -d "$_x" ] && rmdir "$_x"; done
  for _x in "$_g"/strings/*; do [ -d "$_x" ] && rmdir "$_x"; done
  rmdir "$_g"
}

# vm_hid_write DEV "HEX BYTES": write one HID report, e.g. vm_hid_write /dev/hidg0 "00 00 04 00 00 00 00 00".
vm_hid_write() {
  local _s="" _b
  for _b in $2; do _s="$_s\\x$_b"; done
  printf "$_s" > "$1"
}

# vm_go N: waits for the host's connection to port 9000 (tests/hw.rs `go_ahead`), after
# printing GO-WAIT N once nc listens: QEMU's port forward accepts a host connection even when
# nothing listens in the guest yet, so the host waits for that line before connecting.
vm_go() {
  nc -l -p 9000 > /dev/null &
  _vm_nc=$!
  vm_wait_cmd 5 grep -qE ':2328 0+:0000 0A' /proc/net/tcp /proc/net/tcp6 ||
    vm_fail "no listener for go-ahead $1"
  echo "GO-WAIT $1"
  wait "$_vm_nc" || vm_fail "go-ahead $1"
}
