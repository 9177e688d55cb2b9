#!/bin/sh
# Guest case: runs `periscope serve` with the given arguments until the host stops the VM.
# Prints READY once HTTPS answers on 8443, and PERISCOPE-EXITED if the server dies.
# Env: PERISCOPE_ADMIN_PASSWORD (from the host), RUST_LOG-style PERISCOPE_LOG optional.
# VIVID_TIMINGS (e.g. 640x480p): the signal vivid's HDMI input receives (its default is
# 1280x720p60, and periscope captures an HDMI input at the signal's size).
if [ -n "${VIVID_TIMINGS:-}" ]; then
  . /vm/lib.sh
  vm_vivid_timings "$VIVID_TIMINGS" || vm_fail "vivid timings $VIVID_TIMINGS"
fi
mkdir -p /tmp/state
periscope --listen 0.0.0.0:8443 --state-dir /tmp/state "$@" > /tmp/periscope.log 2>&1 &
pid=$!
i=0
# LISTEN on :8443 (0x20FB) in /proc/net/tcp: no client tool needed.
until grep -q ':20FB 00000000:0000 0A' /proc/net/tcp 2>/dev/null; do
  i=$((i + 1))
  if ! kill -0 "$pid" 2>/dev/null || [ "$i" -gt 600 ]; then
    echo "PERISCOPE-EXITED"; cat /tmp/periscope.log; exit 1
  fi
  sleep 0.1
done
echo "READY"
# Show the server's log as it goes, and end when it does.
tail -f /tmp/periscope.log &
wait "$pid"
echo "PERISCOPE-EXITED"
exit 1
