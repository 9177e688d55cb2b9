# Self-check (guest): an HTTP server on TCP 8080 (busybox httpd), a UDP echo on 19053 (socat,
# brought in by selftest.sh) and a stop port 9000: the script ends when the host connects to it.
. /vm/lib.sh
ip route | grep -q '^default' && vm_fail "the guest has a default route"
mkdir -p /www && echo "hello from the guest" > /www/index.html
httpd -p 8080 -h /www || vm_fail "httpd"
socat -T 30 UDP-RECVFROM:19053,fork SYSTEM:cat &
vm_wait_cmd 5 grep -q ':4A6D ' /proc/net/udp /proc/net/udp6 || vm_fail "UDP echo not bound"
vm_wait_cmd 5 grep -qE ':1F90 [0-9A-F]+:0000 0A' /proc/net/tcp /proc/net/tcp6 || vm_fail "httpd not listening"
echo "READY"
nc -l -p 9000 > /dev/null
echo "NET-OK"
