#!/bin/sh
# Guest case: an MJPEG V4L2 capture source served by periscope. v4l2loopback (built for this
# kernel by tests/vm/v4l2loopback.sh) gives /dev/video10; mjpeg-feed writes the host's test
# JPEGs into it at 30 fps, each stamped with its sequence number; then serve.sh runs periscope
# with the given arguments (the host passes --source /dev/video10) and prints READY.
# Files from the host (tests/hw.rs): /mjpeg/v4l2loopback.ko, /mjpeg/mjpeg-feed, /mjpeg/frames/.
. /vm/lib.sh
M=/mjpeg
NR=10
D=/dev/video$NR
fail() {
  echo "FAIL: $*"
  [ -f /tmp/feed.log ] && cat /tmp/feed.log
  dmesg | tail -n 8
  exit 1
}
for f in v4l2loopback.ko mjpeg-feed frames; do [ -e $M/$f ] || fail "no $M/$f"; done

# videodev is v4l2loopback's only dependency (in the image; vivid loaded it already).
# exclusive_caps=1: the node offers Video Capture only while a writer streams, as a capture
# card does; max_buffers=8: the ring a reader may lag behind by before a frame is overwritten.
modprobe videodev || fail "modprobe videodev"
insmod $M/v4l2loopback.ko devices=1 video_nr=$NR exclusive_caps=1 max_buffers=8 \
  'card_label="periscope MJPEG"' || fail "insmod v4l2loopback"
vm_wait $D 10 || fail "no $D"

$M/mjpeg-feed $D $M/frames 30 > /tmp/feed.log 2>&1 &
# Its first line: "streaming ..." once the first frame is in, or the error it stopped on.
vm_wait_grep /tmp/feed.log 'mjpeg-feed:' 30 || fail "mjpeg-feed did not start"
grep -q 'mjpeg-feed: streaming' /tmp/feed.log || fail "mjpeg-feed could not stream"
cat /tmp/feed.log
echo "capture side: $(cat /sys/class/video4linux/video$NR/name)"

exec sh /cases/serve.sh "$@"
