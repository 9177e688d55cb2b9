// probe.js — per-frame measurement of what is on screen: frame rate, the decoded timestamp
// strip and glass-to-glass latency, for the status line and for benchmarks.
//
// Everything it learns goes into the shared `window.periscope` record (see app.js and
// mjpeg.js): `frames` (frames seen), `lastStrip` ({timestamp, counter}) and `latencies`, a ring
// of {receive, display, decoded, counter} in ms after the strip's timestamp: the wall clock
// when the frame callback runs; the frame's expected display time (null when implausible);
// and, for WebRTC, when the browser had the frame decoded (its last packet's receiveTime plus
// processingDuration, from the callback's metadata: when the frame reached the page, before
// the compositor schedules it; null where the browser does not say).
// For a <video> it runs in requestVideoFrameCallback, once per presented frame. For MJPEG on a
// canvas (mjpeg-view.js) it reads each decoded frame as it is handed over and stamps it at the
// next animation frame, the one that paints it; `decoded` is when its decode finished. For an
// <img> showing MJPEG (browsers without the canvas view) it polls once per animation frame and
// counts a frame when the strip's counter changes (a multipart image has no per-frame event).
// With no rVFC metadata, the expected display time is estimated as the browser estimates it:
// the start of the animation frame that paints it plus one refresh period (more periods when
// the page's work in that frame ran past its deadline).

import {
  FrameIntervalMeter, StripReader, latencyMs, MAX_LATENCY_MS, presentAt, RateMeter, RollingMedian,
} from './strip.js';

/** How many latency samples `window.periscope.latencies` keeps. */
export const LATENCY_RING = 600;
/** Frames of an MJPEG view kept for the next animation frame to record (a hidden tab has none). */
const MAX_UNPAINTED = 8;
/** A display latency below minus this many ms is garbage rather than a late callback. */
const MAX_DISPLAY_EARLY_MS = 1000;

export class FrameProbe {
  /**
   * @param {object} record  the window.periscope object to update
   * @param {() => boolean} decodeStrip  whether to decode the strip now (test pattern on)
   */
  constructor(record, decodeStrip = () => true) {
    this.record = record;
    this.decodeStrip = decodeStrip;
    this.reader = new StripReader();
    this.fps = new RateMeter();
    this.latency = new RollingMedian(1000);
    this.vsync = new FrameIntervalMeter();
    this.stopped = false;
    this.handle = null;
  }

  /** Median display latency over the last second in ms, or null. */
  get latencyMs() {
    return this.latency.value();
  }

  /** Frames per second over the last second. */
  get framesPerSecond() {
    return this.fps.value();
  }

  /**
   * Records one frame's latencies. `receive` outside 0..MAX_LATENCY_MS is garbage (no strip,
   * a clock step) and drops the sample; `display` may be a little negative when the frame is
   * shown late, and is kept as null when implausible; `decoded` is kept only between 0 and
   * `receive` (a frame is decoded before its callback runs).
   */
  addLatency(receive, display, counter = null, decoded = null) {
    if (!(receive >= 0 && receive <= MAX_LATENCY_MS)) return;
    const shown = display >= -MAX_DISPLAY_EARLY_MS && display <= MAX_LATENCY_MS ? display : null;
    const ready = decoded >= 0 && decoded <= receive ? decoded : null;
    const ring = this.record.latencies;
    ring.push({ receive, display: shown, decoded: ready, counter });
    if (ring.length > LATENCY_RING) ring.splice(0, ring.length - LATENCY_RING);
    this.latency.push(shown ?? receive);
  }

  /** Measures a <video>; uses requestVideoFrameCallback when the browser has it. */
  watchVideo(video) {
    if (typeof video.requestVideoFrameCallback !== 'function') return this.watchImage(video, true);
    const onFrame = (now, meta) => {
      if (this.stopped) return;
      // Both clocks at the same instant, before the strip is read (a canvas draw and read).
      const receivedAt = Date.now();
      const perfAt = performance.now();
      this.record.frames++;
      this.fps.tick(now);
      if (this.decodeStrip()) {
        const strip = this.reader.read(video, meta.width || video.videoWidth, meta.height || video.videoHeight);
        if (strip) {
          this.record.lastStrip = strip;
          // Wall-clock time of expectedDisplayTime, converted at the callback's instant rather
          // than via performance.timeOrigin, which drifts from Date.now() over a page's life.
          const shown = receivedAt - perfAt + (meta.expectedDisplayTime ?? now);
          const ready = typeof meta.receiveTime === 'number' && typeof meta.processingDuration === 'number'
            ? latencyMs(receivedAt - perfAt + meta.receiveTime + meta.processingDuration * 1000, strip.timestamp)
            : null;
          this.addLatency(latencyMs(receivedAt, strip.timestamp), latencyMs(shown, strip.timestamp), strip.counter, ready);
        }
      }
      this.handle = video.requestVideoFrameCallback(onFrame);
    };
    this.handle = video.requestVideoFrameCallback(onFrame);
    return this;
  }

  /** Measures the MJPEG picture from mjpeg-view.js's createMjpegPicture: its view, or its <img>. */
  watchMjpegPicture({ el, view }) {
    return view ? this.watchMjpeg(view) : this.watchImage(el);
  }

  /**
   * Measures the frames of an MjpegView (mjpeg-view.js): reads the strip from each decoded
   * bitmap before the canvas takes it, then records the frame at the next animation frame
   * (*receive*: that callback's wall clock) and its estimated display (*display*: that
   * frame's start plus one refresh period, when the frame it paints is presented).
   */
  watchMjpeg(view) {
    this.trackVsync();
    // Frames handed over since the last animation frame; one callback records them all, so a
    // hidden tab (no animation frames) holds at most MAX_UNPAINTED of them, not one per frame.
    let unpainted = [];
    const paint = (now) => {
      const frames = unpainted;
      unpainted = [];
      if (this.stopped) return;
      for (const { strip, decodedAt } of frames) {
        this.record.frames++;
        this.fps.tick(now);
        if (!strip) continue;
        this.record.lastStrip = strip;
        this.addPainted(strip, now, decodedAt);
      }
    };
    view.onFrame = (bitmap) => {
      if (this.stopped) return;
      const decodedAt = Date.now();
      const strip = this.decodeStrip() ? this.reader.read(bitmap, bitmap.width, bitmap.height) : null;
      if (unpainted.length === 0) requestAnimationFrame(paint);
      unpainted.push({ strip, decodedAt });
      if (unpainted.length > MAX_UNPAINTED) unpainted.shift();
    };
    return this;
  }

  /** Ticks the refresh-period meter at every animation frame until stop(). */
  trackVsync() {
    const tick = (now) => {
      if (this.stopped) return;
      this.vsync.tick(now);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  /**
   * Records a frame first painted at the animation frame that started at `now` (performance
   * clock): receive = the wall clock now, display = the frame's start plus one refresh period,
   * or later when the work in this callback (an <img>'s decode) ran past it (strip.js presentAt).
   */
  addPainted(strip, now, decodedAt = null) {
    const receivedAt = Date.now();
    const perfAt = performance.now();
    const shown = receivedAt - perfAt + presentAt(now, perfAt, this.vsync.value());
    const decoded = decodedAt === null ? null : latencyMs(decodedAt, strip.timestamp);
    this.addLatency(latencyMs(receivedAt, strip.timestamp), latencyMs(shown, strip.timestamp), strip.counter, decoded);
  }

  /**
   * Measures an <img> (MJPEG) — or a <video> without rVFC when isVideo — by polling each
   * animation frame; a new frame is one whose strip counter differs from the last.
   */
  watchImage(el, isVideo = false) {
    let lastCounter = null;
    const tick = (now) => {
      if (this.stopped) return;
      this.vsync.tick(now);
      const w = isVideo ? el.videoWidth : el.naturalWidth;
      const h = isVideo ? el.videoHeight : el.naturalHeight;
      if (w > 0 && h > 0 && this.decodeStrip()) {
        const strip = this.reader.read(el, w, h);
        if (strip && strip.counter !== lastCounter) {
          lastCounter = strip.counter;
          this.record.frames++;
          this.fps.tick(now);
          this.record.lastStrip = strip;
          this.addPainted(strip, now);
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    return this;
  }

  stop() {
    this.stopped = true;
  }
}
