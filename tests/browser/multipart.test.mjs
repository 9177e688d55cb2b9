// multipart.test.mjs — Node unit tests of frontend/src/multipart.js, the streaming parser the
// MJPEG view reads /stream.mjpeg with: periscope's own framing (no Content-Length, the next
// header sent ahead), Content-Length framing, every split of the bytes into chunks, and the
// errors a malformed or oversized stream gets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  boundaryOf, indexOf, ByteQueue, MultipartParser, MultipartError, MAX_PART_BYTES,
} from '../../frontend/src/multipart.js';

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);
const cat = (...xs) => {
  const out = new Uint8Array(xs.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of xs) { out.set(x, at); at += x.length; }
  return out;
};

// What src/transport/mjpeg.rs sends: STREAM_START, then each frame followed by PART_END.
const START = enc('--periscopeframe\r\nContent-Type: image/jpeg\r\n\r\n');
const PART_END = enc('\r\n--periscopeframe\r\nContent-Type: image/jpeg\r\n\r\n');
const jpeg = (n, fill) => cat(new Uint8Array([0xff, 0xd8]), new Uint8Array(n).fill(fill), new Uint8Array([0xff, 0xd9]));

/** Feeds `bytes` to a fresh parser in chunks of `size` and returns the bodies. */
function feed(bytes, size, boundary = 'periscopeframe') {
  const p = new MultipartParser(boundary);
  const bodies = [];
  for (let i = 0; i < bytes.length; i += size) {
    for (const part of p.push(bytes.subarray(i, i + size))) bodies.push(part);
  }
  return bodies;
}

test('boundaryOf reads the parameter, quoted or not, and refuses what is not multipart', () => {
  assert.equal(boundaryOf('multipart/x-mixed-replace; boundary=periscopeframe'), 'periscopeframe');
  assert.equal(boundaryOf('multipart/x-mixed-replace;boundary="a b"'), 'a b');
  assert.equal(boundaryOf('Multipart/X-Mixed-Replace; charset=x; Boundary=xyz'), 'xyz');
  assert.equal(boundaryOf('image/jpeg'), null);
  assert.equal(boundaryOf('multipart/x-mixed-replace'), null);
  assert.equal(boundaryOf(null), null);
  assert.equal(boundaryOf(`multipart/mixed; boundary=${'x'.repeat(71)}`), null);
});

test('indexOf finds a needle anywhere, including at the ends, and -1 when absent', () => {
  const hay = enc('abcabd--x');
  assert.equal(indexOf(hay, enc('abd')), 3);
  assert.equal(indexOf(hay, enc('abc')), 0);
  assert.equal(indexOf(hay, enc('--x')), 6);
  assert.equal(indexOf(hay, enc('abc'), 1), -1);
  assert.equal(indexOf(hay, enc('--xy')), -1);
  assert.equal(indexOf(enc('ab'), enc('abc')), -1);
});

test('ByteQueue keeps bytes in order across growth and compaction', () => {
  const q = new ByteQueue(4);
  q.append(enc('abc'));
  q.consume(2);
  q.append(enc('de')); // compacts
  assert.equal(dec(q.view()), 'cde');
  q.append(enc('fghij')); // grows
  assert.equal(dec(q.view()), 'cdefghij');
  q.consume(100);
  assert.equal(q.length, 0);
});

test("periscope's framing: each frame is whole as soon as its PART_END is in, at every chunk size", () => {
  const frames = [jpeg(1000, 1), jpeg(10, 2), jpeg(70_000, 3)];
  const stream = cat(START, ...frames.flatMap((f) => [f, PART_END]));
  for (const size of [1, 2, 3, 7, 16, 17, 100, 4096, 65536, stream.length]) {
    const parts = feed(stream, size);
    assert.equal(parts.length, 3, `chunks of ${size}`);
    parts.forEach((p, i) => {
      assert.deepEqual(p.body, frames[i], `frame ${i}, chunks of ${size}`);
      assert.equal(p.headers.get('content-type'), 'image/jpeg');
    });
  }
});

test('a frame whose PART_END has not arrived is not returned yet', () => {
  const p = new MultipartParser('periscopeframe');
  assert.deepEqual(p.push(cat(START, jpeg(50, 9))), []);
  const parts = p.push(PART_END.subarray(0, 5));
  assert.equal(parts.length, 0);
  assert.equal(p.push(PART_END.subarray(5)).length, 1);
});

test('Content-Length framing, with or without the CRLF before the next boundary, and a preamble', () => {
  const a = enc('first\r\n--b'); // a body that contains a delimiter-like run
  const b = enc('second');
  const withCrlf = cat(enc('preamble text\r\n--b\r\nContent-Length: 10\r\n\r\n'), a,
    enc('\r\n--b\r\nContent-Length: 6\r\nX-Timestamp: 1\r\n\r\n'), b, enc('\r\n--b--\r\n'));
  for (const size of [1, 5, 1000]) {
    const parts = feed(withCrlf, size, 'b');
    assert.equal(parts.length, 2, `chunks of ${size}`);
    assert.deepEqual(parts[0].body, a);
    assert.deepEqual(parts[1].body, b);
    assert.equal(parts[1].headers.get('x-timestamp'), '1');
  }
  const noCrlf = cat(enc('--b\r\nContent-Length: 6\r\n\r\n'), b, enc('--b\r\n\r\n'));
  assert.deepEqual(feed(noCrlf, 3, 'b').map((p) => dec(p.body)), ['second']);
});

test('a part with no headers, and nothing after the closing boundary', () => {
  const p = new MultipartParser('b');
  const parts = p.push(enc('--b\r\n\r\nxyz\r\n--b--\r\n--b\r\n\r\nlater\r\n--b'));
  assert.deepEqual(parts.map((x) => dec(x.body)), ['xyz']);
  assert.equal(parts[0].headers.size, 0);
  assert.deepEqual(p.push(enc('more')), []);
});

test('malformed or oversized streams throw MultipartError instead of buffering without end', () => {
  assert.throws(() => new MultipartParser(''), MultipartError);
  // No boundary in the first 8 KiB.
  assert.throws(() => feed(new Uint8Array(20_000).fill(65), 1000), MultipartError);
  // A header block that never ends.
  assert.throws(() => feed(cat(enc('--b\r\n'), new Uint8Array(20_000).fill(65)), 1000, 'b'), MultipartError);
  // A declared length over the limit.
  assert.throws(() => feed(enc(`--b\r\nContent-Length: ${MAX_PART_BYTES + 1}\r\n\r\n`), 64, 'b'), MultipartError);
  // A body with no delimiter past the limit.
  const p = new MultipartParser('b');
  p.push(enc('--b\r\n\r\n'));
  const big = new Uint8Array(4 * 1024 * 1024);
  assert.throws(() => { for (let i = 0; i < 9; i++) p.push(big); }, MultipartError);
});
