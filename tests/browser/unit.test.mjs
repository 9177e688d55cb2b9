// unit.test.mjs — Node unit tests (node --test) of the frontend's pure helpers: the timestamp
// strip reader (against a strip painted per contracts.md), latency arithmetic across the
// 2^32 wrap, and the letterbox-aware mouse coordinates. No browser needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bandHeight, readBand, latencyMs, median, FrameIntervalMeter, DEFAULT_FRAME_INTERVAL_MS, presentAt,
} from '../../frontend/src/strip.js';
import { pictureCoords } from '../../frontend/src/pointer.js';

/** RGBA pixels of a W x (2*band) strip carrying `ts` and `counter`, luma 235/16 as RGB. */
function paintStrip(W, H, ts, counter) {
  const band = bandHeight(H);
  const data = new Uint8ClampedArray(W * 2 * band * 4);
  [ts, counter].forEach((word, k) => {
    for (let i = 0; i < 32; i++) {
      const v = (word >>> (31 - i)) & 1 ? 235 : 16;
      const c0 = Math.floor((i * W) / 32);
      const c1 = Math.floor(((i + 1) * W) / 32);
      for (let y = k * band; y < (k + 1) * band; y++) {
        for (let x = c0; x < c1; x++) data.set([v, v, v, 255], (y * W + x) * 4);
      }
    }
  });
  return { data, band };
}

test('band height is max(16, floor(H/16))', () => {
  assert.equal(bandHeight(720), 45);
  assert.equal(bandHeight(1080), 67);
  assert.equal(bandHeight(200), 16);
});

test('readBand decodes both words at several sizes', () => {
  for (const [W, H] of [[1280, 720], [1920, 1080], [640, 480], [100, 64]]) {
    for (const [ts, ctr] of [[0, 0xffffffff], [0x80000001, 1], [0x12345678, 0xdeadbeef]]) {
      const { data, band } = paintStrip(W, H, ts, ctr);
      assert.equal(readBand(data, W, 0, band), ts, `${W}x${H} timestamp`);
      assert.equal(readBand(data, W, band, band), ctr, `${W}x${H} counter`);
    }
  }
});

test('latency is the 32-bit difference, signed, and keeps the fraction', () => {
  assert.equal(latencyMs(2 ** 32 + 5, 0xfffffffe), 7); // wrapped
  assert.equal(latencyMs(1000.5, 900), 100.5);
  assert.equal(latencyMs(1000, 1002), -2); // shown a moment before the stamp: slightly negative
  assert.equal(latencyMs(5, 0xfffffffe + 10), -3); // ... also across the wrap
  assert.ok(latencyMs(2 ** 31 + 5000, 0) < -10_000); // half the range away: garbage either way
});

test('median', () => {
  assert.equal(median([]), null);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

test('FrameIntervalMeter: the median gap between animation frames, stalls ignored', () => {
  const m = new FrameIntervalMeter(8);
  assert.equal(m.value(), DEFAULT_FRAME_INTERVAL_MS);
  m.tick(1000);
  assert.equal(m.value(), DEFAULT_FRAME_INTERVAL_MS); // one tick is no gap
  // A 120 Hz display with a jittery callback and one 500 ms stall (a hidden tab).
  for (const t of [1008.3, 1016.7, 1025.2, 1033.3, 1533.3, 1541.7, 1550, 1558.4]) m.tick(t);
  assert.ok(Math.abs(m.value() - 8.35) < 0.1, `period ${m.value()}`);
  // Only the last n gaps count: the display switches to 60 Hz.
  for (let i = 1; i <= 8; i++) m.tick(1558.4 + i * 16.7);
  assert.ok(Math.abs(m.value() - 16.7) < 0.01, `period ${m.value()}`);
});

test('presentAt: one period after the frame start, a period later per period the work overran', () => {
  assert.equal(presentAt(1000, 1002, 16), 1016); // work done early: the next refresh
  assert.equal(presentAt(1000, 1015.9, 16), 1016);
  assert.equal(presentAt(1000, 1016, 16), 1032); // missed its deadline: one more period
  assert.equal(presentAt(1000, 1040, 16), 1048);
  assert.equal(presentAt(1000, 990, 16), 1016); // a clock read before the frame start
});

test('pictureCoords takes the letterbox out', () => {
  const rect = { left: 0, top: 100, width: 1000, height: 1000 };
  // 16:9 picture in a square box: 1000 x 562.5, starting at y = 100 + 218.75.
  assert.deepEqual(pictureCoords(rect, 1280, 720, 500, 600), { x: 0.5, y: 0.5 });
  assert.deepEqual(pictureCoords(rect, 1280, 720, 0, 318.75), { x: 0, y: 0 });
  assert.deepEqual(pictureCoords(rect, 1280, 720, 1000, 881.25), { x: 1, y: 1 });
  assert.deepEqual(pictureCoords(rect, 1280, 720, 500, 150), { x: 0.5, y: 0 }); // in the bar: clamped
  // Pillarbox: 4:3 picture in a wide box.
  const wide = { left: 0, top: 0, width: 1600, height: 600 };
  assert.deepEqual(pictureCoords(wide, 800, 600, 800, 300), { x: 0.5, y: 0.5 });
  assert.deepEqual(pictureCoords(wide, 800, 600, 400, 0), { x: 0, y: 0 });
  // Unknown intrinsic size: the whole element.
  assert.deepEqual(pictureCoords(wide, 0, 0, 400, 150), { x: 0.25, y: 0.25 });
});

import { parseMetrics, statRows } from '../../frontend/src/stats.js';
import { FrameProbe } from '../../frontend/src/probe.js';

test('parseMetrics reads names with labels and skips comments and junk', () => {
  const m = parseMetrics(
    '# HELP x y\n# TYPE x gauge\nperiscope_a 1.5\nperiscope_b{stream="h264"} 2\nnot a number here\n\n',
  );
  assert.equal(m.get('periscope_a'), 1.5);
  assert.equal(m.get('periscope_b{stream="h264"}'), 2);
  assert.equal(m.size, 2);
});

test('the probe keeps a frame\'s decode time only between capture and its callback', () => {
  const record = { latencies: [] };
  // Without the canvas a StripReader needs (no DOM here): only what addLatency touches.
  const probe = Object.assign(Object.create(FrameProbe.prototype), { record, latency: { push() {} } });
  probe.addLatency(12, 28, 1, 5);
  probe.addLatency(12, 28, 2, 13); // decoded after the callback ran: not a decode time
  probe.addLatency(12, 28, 3, -1);
  probe.addLatency(12, 28, 4);
  probe.addLatency(-3, 28, 5, 2); // no plausible receive: the whole sample goes
  assert.deepEqual(record.latencies.map((l) => [l.counter, l.decoded]), [[1, 5], [2, null], [3, null], [4, null]]);
});

test('statRows turns two samples and the page record into stage rows', () => {
  const before = parseMetrics(
    'periscope_encoded_frames_total{stream="h264"} 100\nperiscope_webrtc_bytes_sent_total 1000\n',
  );
  const now = parseMetrics(
    [
      'periscope_capture_to_publish_seconds_last{stream="h264"} 0.0026',
      'periscope_encode_seconds_last{stream="h264"} 0.0012',
      'periscope_webrtc_send_seconds_last 0.0001',
      'periscope_encoded_frames_total{stream="h264"} 130',
      'periscope_webrtc_bytes_sent_total 251000',
      'periscope_keyframes_total{stream="h264"} 3',
      'periscope_viewers{stream="h264"} 2',
    ].join('\n'),
  );
  const page = {
    latencies: [{ receive: 6, display: 20, decoded: 4 }, { receive: 8, display: null, decoded: null }, { receive: 7, display: 30, decoded: 5 }],
    framesPerSecond: 30,
  };
  const rows = Object.fromEntries(statRows(now, before, 1, page));
  assert.equal(rows['capture → encoded'], '2.6 ms');
  assert.equal(rows['  of which encode'], '1.2 ms');
  assert.equal(rows['encoded → sent'], '0.1 ms');
  assert.equal(rows['decoded in page'], '5 ms');
  assert.equal(rows['reaches page'], '7 ms');
  assert.equal(rows['displayed'], '25 ms');
  assert.equal(rows['frames/s encoded'], '30.0');
  assert.equal(rows['sent (all viewers)'], '2000 kbit/s');
  assert.equal(rows['keyframes'], '3');
  assert.equal(rows['H.264 viewers'], '2');
  const first = Object.fromEntries(statRows(now, null, 0, { latencies: [] }));
  assert.equal(first['frames/s encoded'], '—');
  assert.equal(first['reaches page'], '— (no strip)');
  assert.equal(first['decoded in page'], '—');
});
