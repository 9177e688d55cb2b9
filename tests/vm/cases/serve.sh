#!/bin/sh
# Guest case: runs `periscope serve` with the given arguments until the host stops the VM.
# Prints READY once HTTPS answers on 8443, and PERISCOPE-EXITED if the server dies.
# Env: PERISCOPE_ADMIN_PASSWORD (from the host), RUST_LOG-style PERISCOPE_LOG optional.
# VIVID_TIMINGS (e.g. 640x480p): the signal vivid's HDMI input receives (its default is
# 1280x720p60, and periscope captures an HDMI input at the signal's size).
. /vm/lib.sh
if [ -n "${VIVID_TIMINGS:-}" ]; then
  vm_vivid_timings "$VIVID_TIMINGS" || vm_fail "vivid timings $VIVID_TIMINGS"
fi
vm_serve "$@"
pid=$VM_PID
echo "READY"
# Show the server's log as it goes, and end when it does.
tail -f /tmp/periscope.log &
wait "$pid"
echo "PERISCOPE-EXITED"
exit 1
