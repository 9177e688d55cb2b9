// pointer.js — the pure arithmetic of pointer input, with no DOM and no clock of its own (the
// caller passes `now`), so node tests can drive it: letterbox-aware absolute coordinates,
// relative motion batched into `mouse_rel` messages of at most ±REL_MAX, and wheel deltas
// turned into whole HID wheel steps. mouse.js does the DOM side.

/** Largest |dx| or |dy| one `mouse_rel` message carries (the HID report's i8 range). */
export const REL_MAX = 127;
/**
 * At most this many `mouse_rel` messages per send (animation frame): 4 × 127 px a frame is a
 * very fast flick; anything beyond waits for the next frame rather than flooding the channel
 * (the device rate-limits a session to a few hundred messages a second).
 */
export const REL_STEPS_PER_SEND = 4;
/** Pixel-mode wheel delta that makes one step (Chromium reports 100 per notch). */
export const WHEEL_STEP_PX = 100;
/** A wheel event after this much quiet starts a new gesture, which always moves one step. */
export const WHEEL_GESTURE_MS = 300;
/** At most this many wheel steps from one event. */
export const WHEEL_MAX_STEPS = 3;

/**
 * Where client point (cx, cy) falls in the picture shown in `rect` (object-fit: contain) whose
 * intrinsic size is w x h: {x, y} clamped to 0..1, rounded to 1e-5.
 */
export function pictureCoords(rect, w, h, cx, cy) {
  let left = rect.left;
  let top = rect.top;
  let pw = rect.width;
  let ph = rect.height;
  if (w > 0 && h > 0 && rect.width > 0 && rect.height > 0) {
    const scale = Math.min(rect.width / w, rect.height / h);
    pw = w * scale;
    ph = h * scale;
    left += (rect.width - pw) / 2;
    top += (rect.height - ph) / 2;
  }
  const clamp = (v) => Math.min(1, Math.max(0, v));
  const round = (v) => Math.round(v * 1e5) / 1e5;
  return {
    x: round(clamp(pw > 0 ? (cx - left) / pw : 0)),
    y: round(clamp(ph > 0 ? (cy - top) / ph : 0)),
  };
}

/**
 * Splits an integer motion (dx, dy) into the fewest steps with |step| <= max on both axes,
 * spread evenly so the path stays straight: (300, 0) → [[100,0],[100,0],[100,0]]. (0, 0) → [].
 */
export function splitMotion(dx, dy, max = REL_MAX) {
  const n = Math.ceil(Math.max(Math.abs(dx), Math.abs(dy)) / max);
  const out = [];
  for (let i = 0; i < n; i++) {
    const sx = Math.round((dx * (i + 1)) / n) - Math.round((dx * i) / n);
    const sy = Math.round((dy * (i + 1)) / n) - Math.round((dy * i) / n);
    out.push([sx, sy]);
  }
  return out;
}

/**
 * Accumulates `movementX/Y` between sends. take() returns the whole pixels gathered so far as
 * REL_MAX-bounded steps, at most `perSend` of them, and keeps the rest: the fraction (high-DPI
 * screens report fractional movement) and any motion beyond perSend steps, for the next send.
 */
export class RelMotion {
  constructor(max = REL_MAX, perSend = REL_STEPS_PER_SEND) {
    this.max = max;
    this.perSend = perSend;
    this.dx = 0;
    this.dy = 0;
  }

  add(mx, my) {
    if (Number.isFinite(mx)) this.dx += mx;
    if (Number.isFinite(my)) this.dy += my;
  }

  get pending() {
    return Math.trunc(this.dx) !== 0 || Math.trunc(this.dy) !== 0;
  }

  /** The whole pixels gathered (up to perSend steps' worth), as `mouse_rel` steps. */
  take() {
    const limit = this.max * this.perSend;
    const clamp = (v) => Math.max(-limit, Math.min(limit, Math.trunc(v)));
    const ix = clamp(this.dx);
    const iy = clamp(this.dy);
    this.dx -= ix;
    this.dy -= iy;
    return splitMotion(ix, iy, this.max);
  }

  clear() {
    this.dx = 0;
    this.dy = 0;
  }
}

/**
 * Turns wheel deltas into whole steps per axis ('x', 'y'). Pixel deltas (deltaMode 0) add up
 * across events, WHEEL_STEP_PX per step; the first event of a gesture always moves at least
 * one step (touchpads send many small deltas); lines or pages (deltaMode 1, 2) are one step
 * per event. Steps keep the DOM's sign (positive = down / right); wheelMessage() flips y to HID.
 */
export class WheelStepper {
  constructor() {
    this.clear();
  }

  clear() {
    this.acc = { x: 0, y: 0 };
    this.at = { x: -Infinity, y: -Infinity };
  }

  steps(axis, delta, mode, now) {
    if (!delta) return 0;
    if (mode !== 0) return Math.sign(delta);
    const fresh = now - this.at[axis] > WHEEL_GESTURE_MS;
    this.at[axis] = now;
    if (fresh) {
      this.acc[axis] = Math.abs(delta) < WHEEL_STEP_PX ? Math.sign(delta) * WHEEL_STEP_PX : delta;
    } else {
      this.acc[axis] += delta;
    }
    const steps = Math.trunc(this.acc[axis] / WHEEL_STEP_PX);
    if (steps === 0) return 0;
    this.acc[axis] -= steps * WHEEL_STEP_PX;
    return Math.max(-WHEEL_MAX_STEPS, Math.min(WHEEL_MAX_STEPS, steps));
  }

  /**
   * The `wheel` message for one DOM wheel event, or null when it makes no whole step.
   * Scrolling down (deltaY > 0) is a negative HID wheel step (dy positive = up); scrolling
   * right is a positive pan.
   */
  message({ deltaX, deltaY, deltaMode }, now) {
    const dy = this.steps('y', deltaY, deltaMode, now);
    const dx = this.steps('x', deltaX, deltaMode, now);
    if (dx === 0 && dy === 0) return null;
    return { type: 'wheel', dx, dy: dy === 0 ? 0 : -dy };
  }
}
