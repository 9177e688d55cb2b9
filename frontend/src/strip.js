// strip.js — decodes the test pattern's timestamp strip (contracts.md, "The test pattern's
// timestamp strip") from a <video> or <img> frame, and turns it into live latency figures.
//
// The strip is two bands at the top of the picture, each max(16, floor(H/16)) rows of the
// source's intrinsic size and 32 cells across: the first band carries the source wall clock in
// ms mod 2^32, the second a frame counter, most significant bit leftmost, white = 1. A reader
// takes the mean luma of the middle 50 % of each cell and thresholds at 128.
//
// Only the top two bands are drawn, scaled down to a small canvas, so this is cheap enough to
// run on every frame. Never throws: a frame without a strip decodes to null.

/** Width in pixels the strip is scaled to before reading (8+ px per cell keeps 4 px to read). */
const READ_WIDTH = 512;
/** A latency above this many ms is garbage (no strip, a wrapped clock, a frozen frame). */
export const MAX_LATENCY_MS = 10000;
/** Cells per band, one per bit. */
const CELLS = 32;

/** Band height in rows for a picture `height` rows tall, per the contract. */
export function bandHeight(height) {
  return Math.max(16, Math.floor(height / 16));
}

/**
 * Reads one 32-bit word from RGBA `data` (canvas `width` wide) in rows [top, top+rows).
 * Returns the word as an unsigned number.
 */
export function readBand(data, width, top, rows) {
  const r0 = top + Math.floor(rows / 4);
  const r1 = Math.max(r0 + 1, top + rows - Math.floor(rows / 4));
  let word = 0;
  for (let i = 0; i < CELLS; i++) {
    const c0 = Math.floor((i * width) / CELLS);
    const c1 = Math.floor(((i + 1) * width) / CELLS); // exclusive
    const w = c1 - c0;
    const x0 = c0 + Math.floor(w / 4);
    const x1 = Math.max(x0 + 1, c1 - Math.floor(w / 4));
    let sum = 0;
    let n = 0;
    for (let y = r0; y < r1; y++) {
      for (let x = x0; x < x1; x++) {
        const p = (y * width + x) * 4;
        sum += 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
        n++;
      }
    }
    const bit = n > 0 && sum / n >= 128 ? 1 : 0;
    word = ((word << 1) | bit) >>> 0;
  }
  return word;
}

/** Decodes strips from frames of a video or image element through a private canvas. */
export class StripReader {
  constructor() {
    this.canvas = document.createElement('canvas');
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
  }

  /**
   * Reads the strip from `source` whose intrinsic size is `w` x `h`.
   * Returns {timestamp, counter} (unsigned 32-bit numbers) or null when it cannot be read.
   */
  read(source, w, h) {
    if (!this.ctx || !(w >= CELLS) || !(h > 0)) return null;
    const band = bandHeight(h);
    if (2 * band > h) return null;
    const W = Math.min(w, READ_WIDTH);
    const scale = W / w;
    const bandRows = Math.max(4, Math.round(band * scale));
    const H = 2 * bandRows;
    if (this.canvas.width !== W || this.canvas.height !== H) {
      this.canvas.width = W;
      this.canvas.height = H;
    }
    try {
      this.ctx.drawImage(source, 0, 0, w, 2 * band, 0, 0, W, H);
      const { data } = this.ctx.getImageData(0, 0, W, H);
      return {
        timestamp: readBand(data, W, 0, bandRows),
        counter: readBand(data, W, bandRows, bandRows),
      };
    } catch (_) {
      return null; // not decodable yet, or a tainted canvas
    }
  }
}

/**
 * ms from the strip's timestamp `ts` to wall-clock time `nowMs`, both taken mod 2^32: the
 * unsigned difference `((now>>>0) - ts)>>>0`, read as a signed 32-bit number so that a moment
 * just before `ts` comes out slightly negative instead of near 2^32. Callers drop anything
 * outside a plausible range (MAX_LATENCY_MS) as garbage.
 */
export function latencyMs(nowMs, ts) {
  const whole = Math.floor(nowMs);
  return ((((whole >>> 0) - ts) >>> 0) | 0) + (nowMs - whole);
}

/** Median of an array of numbers (null when empty). */
export function median(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Keeps the samples of the last `windowMs` and reports their median. */
export class RollingMedian {
  constructor(windowMs = 1000) {
    this.windowMs = windowMs;
    this.samples = []; // [{t, v}]
  }

  push(v, t = performance.now()) {
    this.samples.push({ t, v });
    this.trim(t);
  }

  trim(t = performance.now()) {
    while (this.samples.length && t - this.samples[0].t > this.windowMs) this.samples.shift();
  }

  value(t = performance.now()) {
    this.trim(t);
    return median(this.samples.map((s) => s.v));
  }
}

/** Counts events over the last second: a frame-rate meter. */
export class RateMeter {
  constructor() {
    this.times = [];
  }

  tick(t = performance.now()) {
    this.times.push(t);
    while (this.times.length && t - this.times[0] > 1000) this.times.shift();
  }

  /** Events per second over the last second. */
  value(t = performance.now()) {
    while (this.times.length && t - this.times[0] > 1000) this.times.shift();
    return this.times.length;
  }
}

/**
 * When a frame painted by the animation frame that started at `frameStart` is presented, on
 * the performance clock: one refresh `period` later when the page's work for that frame ended
 * (`end`) within the period, otherwise at the first refresh after `end` (a frame that misses
 * its deadline is shown one period late per period missed).
 */
export function presentAt(frameStart, end, period) {
  const over = Math.max(0, end - frameStart);
  return frameStart + period * (1 + Math.floor(over / period));
}

/** The display's refresh period assumed before any animation frame was seen (60 Hz). */
export const DEFAULT_FRAME_INTERVAL_MS = 1000 / 60;

/**
 * The display's refresh period from animation-frame timestamps: the median gap between
 * consecutive ticks over the last `n` gaps. Gaps over 100 ms (a hidden tab, a stall) are
 * ignored. A frame painted at an animation frame is presented about one period later, which
 * is how the MJPEG probe estimates when a frame is displayed (rVFC's expectedDisplayTime for
 * a <video> is the same estimate, made by the browser).
 */
export class FrameIntervalMeter {
  constructor(n = 32) {
    this.n = n;
    this.gaps = [];
    this.last = null;
  }

  tick(t) {
    if (this.last !== null) {
      const gap = t - this.last;
      if (gap > 0 && gap <= 100) {
        this.gaps.push(gap);
        if (this.gaps.length > this.n) this.gaps.shift();
      }
    }
    this.last = t;
  }

  /** The period in ms (DEFAULT_FRAME_INTERVAL_MS until a gap was seen). */
  value() {
    return median(this.gaps) ?? DEFAULT_FRAME_INTERVAL_MS;
  }
}
