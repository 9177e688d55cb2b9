#!/usr/bin/env python3
"""Host side of scripts/bench-ustreamer: reads each server's MJPEG stream while the guest
(tests/vm/cases/ustreamer-bench.sh) measures the server's CPU, and prints a markdown table.

  mjpeg_bench_reader.py --console LOG --phases 'mjpeg:periscope mjpeg:ustreamer ...'
      --https PORT --http PORT --ctl PORT --password PW [--seconds 20] [--warmup 4] [--fps 30]
      [--json FILE]

For each phase, once the guest prints `READY PHASE` in LOG: opens the stream (periscope:
login, then GET /stream.mjpeg with the Bearer token over HTTPS; uStreamer: GET /stream;
uStreamer behind nginx: GET /stream over HTTPS),
reads it for --warmup seconds, connects to the guest's control port (window opens), reads for
--seconds noting when each part's last byte arrived, connects again (window closes), and takes
the guest's `RESULT PHASE ...` line (the server's utime+stime over the window).

A part is complete at its Content-Length when the part header has one (uStreamer), else when
the boundary after it arrives (periscope sends it right after the JPEG).

Latency (MJPEG source only): mjpeg-feed writes frame `seq` at T0 + seq/fps on its own
clock, and stamps `seq` into the JPEG (tests/common/jpegs.rs). arrival - seq/fps is then
T0 + latency + a constant host/guest clock offset, the same for every phase of the run since
the one feeder keeps running. Reported: that value minus its minimum over all MJPEG phases,
i.e. latency above the run's fastest frame (a lower bound on the true one by that frame's
latency): comparable between servers, not absolute.
"""
import argparse
import http.client
import json
import re
import socket
import ssl
import statistics
import sys
import time

STAMP = b"periscope-mjpeg-feed seq="


def log(msg):
    print(f"reader: {msg}", file=sys.stderr, flush=True)


SEEN = [0]  # console lines already consumed: a phase may repeat (--rounds)


def wait_line(path, pattern, timeout):
    end = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < end:
        try:
            with open(path, errors="replace") as f:
                lines = f.read().split("\n")[:-1]  # complete lines only
            for n in range(SEEN[0], len(lines)):
                line = lines[n]
                if line.startswith("FAIL:"):
                    raise SystemExit(f"reader: the guest failed: {line.strip()}")
                m = rx.search(line)
                if m:
                    SEEN[0] = n + 1
                    return m
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"reader: no /{pattern}/ in {path} within {timeout} s")


def ctl(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass


def insecure():
    """TLS without certificate checks: both servers have a self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


SERVER_NAMES = {"ustreamer-nginx": "ustreamer + nginx (TLS)"}


def open_stream(server, args):
    if server == "periscope":
        c = http.client.HTTPSConnection("127.0.0.1", args.https, context=insecure(), timeout=30)
        body = json.dumps({"user": "admin", "password": args.password})
        c.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        token = json.loads(r.read())["token"]
        c.request("GET", "/stream.mjpeg", headers={"Authorization": f"Bearer {token}"})
    elif server == "ustreamer-nginx":
        c = http.client.HTTPSConnection("127.0.0.1", args.https, context=insecure(), timeout=30)
        c.request("GET", "/stream")
    else:
        c = http.client.HTTPConnection("127.0.0.1", args.http, timeout=30)
        c.request("GET", "/stream")
    r = c.getresponse()
    if r.status != 200:
        raise SystemExit(f"reader: {server} stream: HTTP {r.status}")
    ctype = r.getheader("Content-Type", "")
    m = re.search(r"boundary=\"?([^\";]+)", ctype)
    if not m:
        raise SystemExit(f"reader: {server} stream: content-type {ctype}")
    return c, r, m.group(1).encode()


class Parts:
    """Splits a multipart body as it arrives; yields (body, arrival) per complete part."""

    def __init__(self, boundary):
        self.delim = b"--" + boundary
        self.buf = bytearray()

    def push(self, data, now):
        self.buf += data
        out = []
        while True:
            start = self.buf.find(self.delim)
            if start < 0:
                break
            head_end = self.buf.find(b"\r\n\r\n", start)
            if head_end < 0:
                break
            head = bytes(self.buf[start:head_end]).decode("latin-1")
            body = head_end + 4
            m = re.search(r"(?im)^content-length:\s*(\d+)", head)
            if m:
                end = body + int(m.group(1))
                if len(self.buf) < end:
                    break
            else:
                end = self.buf.find(b"\r\n" + self.delim, body)
                if end < 0:
                    break
            out.append((bytes(self.buf[body:end]), now))
            del self.buf[:end]
        return out


def seq_of(jpeg):
    # SOI, then COM (FF FE, 2-byte length), then "periscope-mjpeg-feed seq=NNNNNNNNNN".
    if jpeg[:4] != b"\xff\xd8\xff\xfe" or jpeg[6 : 6 + len(STAMP)] != STAMP:
        return None
    n = int.from_bytes(jpeg[4:6], "big")
    try:
        return int(jpeg[6 + len(STAMP) : 4 + n])
    except ValueError:
        return None


def read_for(resp, parts, seconds, into):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = resp.read1(1 << 18)
        now = time.monotonic()
        if not data:
            raise SystemExit("reader: the stream ended")
        for body, at in parts.push(data, now):
            if into is not None:
                into.append((at, len(body), seq_of(body)))


def run_phase(phase, args):
    server = phase.split(":")[1]
    idle = phase.endswith(":idle")
    wait_line(args.console, rf"^READY {re.escape(phase)}$", 300)
    log(f"{phase}: {'idle' if idle else 'reading'}")
    got = []
    if idle:
        time.sleep(args.warmup)
        t0 = time.monotonic()
        ctl(args.ctl)
        time.sleep(args.seconds)
        ctl(args.ctl)
        t1 = time.monotonic()
    else:
        conn, resp, boundary = open_stream(server, args)
        parts = Parts(boundary)
        read_for(resp, parts, args.warmup, None)
        t0 = time.monotonic()
        ctl(args.ctl)
        read_for(resp, parts, args.seconds, got)
        ctl(args.ctl)
        t1 = time.monotonic()
        conn.close()
    m = wait_line(args.console, rf"^RESULT {re.escape(phase)} (.*)$", 120)
    res = dict(kv.split("=") for kv in m.group(1).split())
    return {
        "phase": phase,
        "window_s": t1 - t0,
        "parts": got,
        "guest": {k: int(v) for k, v in res.items()},
    }


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--console", required=True)
    ap.add_argument("--phases", required=True)
    ap.add_argument("--https", type=int, required=True)
    ap.add_argument("--http", type=int, required=True)
    ap.add_argument("--ctl", type=int, required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=4)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--json")
    args = ap.parse_args()

    results = [run_phase(p, args) for p in args.phases.split()]
    # Latency floor: over every stamped part of every phase (one feeder, one clock offset).
    delays = [at - seq / args.fps for r in results for (at, _, seq) in r["parts"] if seq is not None]
    floor = min(delays) if delays else 0.0

    print("| source | server | frames/s delivered | new frames | KB/frame | CPU ms/frame | server CPU % | guest busy % | latency above fastest, median / p95 ms | RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    idle_rows = []
    for r in results:
        src, server = r["phase"].split(":")[:2]
        parts = r["parts"]
        g = r["guest"]
        if r["phase"].endswith(":idle"):
            cpu_s = g["cpu_ticks"] / 100
            idle_rows.append(
                f"| {SERVER_NAMES.get(server, server)} | {100 * cpu_s / (g['window_cs'] / 100):.0f} | "
                f"{1000 * cpu_s / (g['window_cs'] / 100 * args.fps):.1f} | {g['busy_pct']} |"
            )
            continue
        n = len(parts)
        fps = n / r["window_s"]
        cpu_s = g["cpu_ticks"] / 100
        window_guest = g["window_cs"] / 100
        seqs = [s for (_, _, s) in parts if s is not None]
        new = len(set(seqs)) if seqs else None
        lat = [1000 * (at - s / args.fps - floor) for (at, _, s) in parts if s is not None]
        r["summary"] = {
            "fps": fps,
            "cpu_ms_per_frame": 1000 * cpu_s / n if n else None,
            "server_cpu_pct": 100 * cpu_s / window_guest if window_guest else None,
            "latency_median_ms": statistics.median(lat) if lat else None,
            "latency_p95_ms": pct(lat, 0.95) if lat else None,
        }
        s = r["summary"]
        name = {"mjpeg": "MJPEG 1280x720 (v4l2loopback)", "raw": "UYVY 1280x720 (vivid HDMI)"}[src]
        print(
            f"| {name} | {SERVER_NAMES.get(server, server)} | {fps:.1f} | {new if new is not None else '—'} | "
            f"{sum(b for (_, b, _) in parts) / max(n, 1) / 1024:.0f} | "
            + (f"{s['cpu_ms_per_frame']:.1f}" if n else "—")
            + f" | {s['server_cpu_pct']:.0f} | {g['busy_pct']} | "
            + (f"{s['latency_median_ms']:.0f} / {s['latency_p95_ms']:.0f}" if lat else "—")
            + f" | {g['rss_kb'] / 1024:.1f} |"
        )
    if idle_rows:
        print()
        print(f"MJPEG source with no client (capture only), CPU per frame fed at {args.fps:g} fps:")
        print()
        print("| server | server CPU % | CPU ms per frame fed | guest busy % |")
        print("|---|---|---|---|")
        print("\n".join(idle_rows))
    if args.json:
        for r in results:
            r["parts"] = [list(p) for p in r["parts"]]
        with open(args.json, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
