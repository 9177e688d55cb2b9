// multipart.js — a streaming parser of multipart/x-mixed-replace bodies (the MJPEG stream):
// bytes in as they arrive, whole parts out. Pure: no DOM, no I/O; mjpeg-view.js feeds it from
// a fetch() body.
//
// A part ends at its Content-Length when it has one, otherwise at the next delimiter
// ("\r\n--boundary"): periscope sends each part's delimiter and header ahead of the next
// frame, so a part is complete the moment its bytes are in. Oversized parts and headers are
// errors rather than unbounded buffering.

/** Largest part accepted, in bytes (a 4K JPEG at high quality is a few MB). */
export const MAX_PART_BYTES = 32 * 1024 * 1024;
/** Largest part header block accepted, in bytes. */
const MAX_HEADER_BYTES = 8 * 1024;

const CRLF = new Uint8Array([13, 10]);
const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);
const ascii = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** The boundary parameter of a multipart Content-Type header value, or null. */
export function boundaryOf(contentType) {
  if (typeof contentType !== 'string' || !/^\s*multipart\//i.test(contentType)) return null;
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) return null;
  const b = m[1] ?? m[2];
  return b.length > 0 && b.length <= 70 ? b : null;
}

/** Index of `needle` in `hay` at or after `from`, or -1. */
export function indexOf(hay, needle, from = 0) {
  const n = needle.length;
  const first = needle[0];
  const last = hay.length - n;
  for (let i = Math.max(0, from); i <= last; i++) {
    i = hay.indexOf(first, i);
    if (i < 0 || i > last) return -1;
    let k = 1;
    while (k < n && hay[i + k] === needle[k]) k++;
    if (k === n) return i;
  }
  return -1;
}

/** Header lines ("Name: value") as a Map of lower-case names to values. */
function parseHeaders(bytes) {
  const headers = new Map();
  for (const line of new TextDecoder().decode(bytes).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

export class MultipartError extends Error {}

/**
 * Feed it chunks with `push(chunk)`; each call returns the parts completed by that chunk, in
 * order, as {headers: Map, body: Uint8Array}. Throws MultipartError on a malformed stream.
 */
export class MultipartParser {
  constructor(boundary) {
    if (!boundary) throw new MultipartError('no multipart boundary');
    this.dashBoundary = ascii(`--${boundary}`);
    this.delimiter = ascii(`\r\n--${boundary}`);
    this.queue = new ByteQueue();
    /** Bytes skipped before the first boundary. */
    this.skipped = 0;
    /** 'preamble' (before the first boundary), 'header' or 'body'. */
    this.state = 'preamble';
    this.headers = null;
    this.length = null;
    /** Where the delimiter search resumes in the queue (bytes before it cannot start one). */
    this.scanFrom = 0;
    this.done = false;
  }

  push(chunk) {
    if (this.done) return [];
    this.queue.append(chunk);
    const parts = [];
    for (;;) {
      const buf = this.queue.view();
      if (this.state === 'preamble') {
        const at = indexOf(buf, this.dashBoundary);
        if (at < 0) {
          // Keep what may be the start of a boundary; give up on a long preamble.
          const drop = Math.max(0, buf.length - (this.dashBoundary.length - 1));
          this.skipped += drop;
          if (this.skipped > MAX_HEADER_BYTES) throw new MultipartError('no multipart boundary in the stream');
          this.queue.consume(drop);
          return parts;
        }
        this.queue.consume(at + this.dashBoundary.length);
        this.state = 'header';
        continue;
      }
      if (this.state === 'header') {
        // After "--boundary": "--" closes the stream; otherwise optional padding, CRLF, headers.
        if (buf.length < 2) return parts;
        if (buf[0] === 45 && buf[1] === 45) {
          this.done = true;
          return parts;
        }
        const lineEnd = indexOf(buf, CRLF);
        // The boundary line's CRLF may be the first two bytes of CRLFCRLF (a part with no headers).
        const end = lineEnd < 0 ? -1 : indexOf(buf, CRLFCRLF, lineEnd);
        if (end < 0) {
          if (buf.length > MAX_HEADER_BYTES) throw new MultipartError('part header too long');
          return parts;
        }
        if (end > MAX_HEADER_BYTES) throw new MultipartError('part header too long');
        this.headers = lineEnd === end ? new Map() : parseHeaders(buf.subarray(lineEnd + 2, end));
        const len = this.headers.get('content-length');
        this.length = len !== undefined && /^\d+$/.test(len) ? Number(len) : null;
        if (this.length !== null && this.length > MAX_PART_BYTES) throw new MultipartError(`part of ${this.length} bytes`);
        this.queue.consume(end + 4);
        this.scanFrom = 0;
        this.state = 'body';
        continue;
      }
      if (this.state === 'body') {
        let bodyEnd;
        if (this.length !== null) {
          if (buf.length < this.length) return parts;
          bodyEnd = this.length;
          // The next boundary follows, with or without the CRLF before it.
          const rest = indexOf(buf, this.dashBoundary, bodyEnd);
          if (rest < 0) {
            if (buf.length - bodyEnd > MAX_HEADER_BYTES) throw new MultipartError('no delimiter after a part');
            return parts;
          }
          parts.push({ headers: this.headers, body: buf.slice(0, bodyEnd) });
          this.queue.consume(rest + this.dashBoundary.length);
        } else {
          bodyEnd = indexOf(buf, this.delimiter, this.scanFrom);
          if (bodyEnd < 0) {
            if (buf.length > MAX_PART_BYTES) throw new MultipartError(`part over ${MAX_PART_BYTES} bytes`);
            this.scanFrom = Math.max(0, buf.length - this.delimiter.length + 1);
            return parts;
          }
          parts.push({ headers: this.headers, body: buf.slice(0, bodyEnd) });
          this.queue.consume(bodyEnd + this.delimiter.length);
        }
        this.state = 'header';
      }
    }
  }
}

/** Bytes appended at the end and consumed from the front, in one growable buffer. */
export class ByteQueue {
  constructor(capacity = 64 * 1024) {
    this.store = new Uint8Array(capacity);
    this.start = 0;
    this.end = 0;
  }

  get length() {
    return this.end - this.start;
  }

  /** The queued bytes (a view: valid until the next append or consume). */
  view() {
    return this.store.subarray(this.start, this.end);
  }

  append(chunk) {
    if (this.end + chunk.length > this.store.length) {
      const live = this.length;
      if (live + chunk.length > this.store.length) {
        let cap = this.store.length;
        while (cap < live + chunk.length) cap *= 2;
        const grown = new Uint8Array(cap);
        grown.set(this.view(), 0);
        this.store = grown;
      } else {
        this.store.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = live;
    }
    this.store.set(chunk, this.end);
    this.end += chunk.length;
  }

  consume(n) {
    this.start = Math.min(this.end, this.start + n);
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
  }
}
