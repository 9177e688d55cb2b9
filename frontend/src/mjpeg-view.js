// mjpeg-view.js — shows an MJPEG stream on a <canvas>, newest frame first. fetch() reads the
// multipart body (multipart.js); each JPEG is decoded off the main thread by createImageBitmap
// and handed to a 'bitmaprenderer' canvas whole (no copy, no redraw). While one frame decodes
// only the newest arrival waits and older ones are dropped, so a slow viewer skips frames
// instead of falling behind. An <img> showing multipart decodes each frame on the main thread
// when it is painted (or read), which costs a 1080p stream frames and tens of ms.
//
// Where the browser lacks streaming fetch, createImageBitmap or the bitmaprenderer context,
// `createMjpegPicture` returns a plain <img> instead. A stream that fails or ends is reopened
// with backoff (1 s doubling to 5 s), except when the server refuses it (401, 403). A hidden
// page keeps reading the stream but decodes nothing until it is shown again.

import { boundaryOf, MultipartParser } from './multipart.js';

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 5000;

/** Whether this browser has everything MjpegView needs. */
export function canvasMjpegSupported() {
  if (typeof fetch !== 'function' || typeof createImageBitmap !== 'function') return false;
  if (typeof ReadableStream !== 'function' || typeof ReadableStream.prototype.getReader !== 'function') return false;
  try {
    return document.createElement('canvas').getContext('bitmaprenderer') !== null;
  } catch (_) {
    return false;
  }
}

/** Whether the page asked for the plain <img> (`?img=1`). */
const imgRequested = () => new URLSearchParams(window.location.search).get('img') === '1';

/**
 * The page's MJPEG picture for `url` (id "mjpeg", class "picture"): a canvas driven by an
 * MjpegView where the browser can, an <img> otherwise or when the page's URL has `?img=1`.
 * Returns {el, view} (view null for the <img>). `onError(reason)` is called for each failure
 * (the <img>'s error event, or the view's).
 */
export function createMjpegPicture(url, { onError = () => {} } = {}) {
  let el;
  let view = null;
  if (!imgRequested() && canvasMjpegSupported()) {
    view = new MjpegView(url, { onError });
    el = view.canvas;
  } else {
    el = document.createElement('img');
    el.src = url;
    el.draggable = false;
    el.addEventListener('error', () => onError('the MJPEG stream failed to load'));
  }
  el.id = 'mjpeg';
  el.className = 'picture';
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', 'remote screen (MJPEG)');
  return { el, view };
}

/** A canvas that plays the MJPEG stream at `url` until `stop()`. */
export class MjpegView {
  /**
   * @param {string} url
   * @param {object} opts
   * @param {(reason: string) => void} [opts.onError]  each failure of the stream
   */
  constructor(url, { onError = () => {} } = {}) {
    this.url = url;
    this.onError = onError;
    /** Set by a watcher (probe.js): each decoded frame, just before the canvas takes it. */
    this.onFrame = null;
    this.canvas = document.createElement('canvas');
    this.canvas.width = 0;
    this.canvas.height = 0;
    this.ctx = this.canvas.getContext('bitmaprenderer');
    this.abort = new AbortController();
    this.stopped = false;
    // A hidden page decodes nothing; the newest frame waits and is shown when it is back.
    this.onVisibility = () => {
      if (!document.hidden && this.pending && !this.decoding) this.decodeLoop();
    };
    document.addEventListener('visibilitychange', this.onVisibility);
    /** The newest frame not yet decoded (older ones are dropped). */
    this.pending = null;
    this.decoding = false;
    /** Frames shown, frames dropped (a newer one came while they waited), frames not decodable. */
    this.shown = 0;
    this.dropped = 0;
    this.broken = 0;
    this.run();
  }

  /** Intrinsic size of the last frame shown (0 before the first). */
  get width() {
    return this.canvas.width;
  }

  get height() {
    return this.canvas.height;
  }

  stop() {
    this.stopped = true;
    this.abort.abort();
    this.pending = null;
    document.removeEventListener('visibilitychange', this.onVisibility);
  }

  async run() {
    let retry = RETRY_FIRST_MS;
    while (!this.stopped) {
      let reason;
      try {
        const res = await fetch(this.url, { credentials: 'same-origin', cache: 'no-store', signal: this.abort.signal });
        if (!res.ok) {
          reason = `the MJPEG stream was refused: HTTP ${res.status}`;
          if (res.status === 401 || res.status === 403) {
            this.onError(reason);
            return;
          }
        } else {
          const boundary = boundaryOf(res.headers.get('content-type'));
          if (!boundary || !res.body) {
            reason = `the MJPEG stream is not multipart (${res.headers.get('content-type')})`;
          } else {
            const before = this.shown;
            reason = await this.read(res.body.getReader(), new MultipartParser(boundary));
            if (this.shown > before) retry = RETRY_FIRST_MS;
          }
        }
      } catch (e) {
        reason = `the MJPEG stream failed: ${e.message}`;
      }
      if (this.stopped) return;
      this.onError(reason);
      await new Promise((resolve) => setTimeout(resolve, retry));
      retry = Math.min(retry * 2, RETRY_MAX_MS);
    }
  }

  /** Reads parts until the body ends; returns why it stopped. Throws on a malformed stream. */
  async read(reader, parser) {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.stopped) return 'the MJPEG stream ended';
        for (const part of parser.push(value)) this.offer(part.body);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** Queues `jpeg` for display, replacing a frame still waiting. */
  offer(jpeg) {
    if (this.pending) this.dropped++;
    this.pending = jpeg;
    if (!this.decoding) this.decodeLoop();
  }

  async decodeLoop() {
    this.decoding = true;
    while (this.pending && !this.stopped && !document.hidden) {
      const jpeg = this.pending;
      this.pending = null;
      let bitmap;
      try {
        bitmap = await createImageBitmap(new Blob([jpeg], { type: 'image/jpeg' }));
      } catch (_) {
        this.broken++; // a frame the browser cannot decode: skip it, keep the stream
        continue;
      }
      if (this.stopped) {
        bitmap.close();
        break;
      }
      if (this.onFrame) {
        try {
          this.onFrame(bitmap);
        } catch (e) {
          console.error('periscope: MJPEG frame callback', e);
        }
      }
      if (this.canvas.width !== bitmap.width) this.canvas.width = bitmap.width;
      if (this.canvas.height !== bitmap.height) this.canvas.height = bitmap.height;
      this.ctx.transferFromImageBitmap(bitmap);
      this.shown++;
    }
    this.decoding = false;
  }
}
