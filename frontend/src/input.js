// input.js — keyboard and absolute mouse capture over the remote screen, sent as `hid`
// data-channel messages (contracts.md, "The `hid` data channel").
//
// Click the screen to capture it (that click is not forwarded); Esc pressed twice within
// ESC_ESC_MS, the Release button, or focus leaving the screen releases it. While captured:
// keydown/keyup → {"type":"key","code":e.code,"down":…} (auto-repeat is not re-sent: the host
// repeats itself); mouse moves → {"type":"mouse_abs",x,y,buttons} at most once per animation
// frame, x/y in 0..1 of the picture (the letterboxing of object-fit: contain is taken out);
// buttons 1 left, 2 right, 4 middle; wheel → {"type":"wheel","dx","dy"} in steps, scrolling down
// is dy -1 as on HID. While anything is held a {"type":"ping"} goes out every PING_MS, and
// {"type":"release_all"} goes out on release, blur and the page being hidden.

/** Keep-alive period while a key or button is held (the device gives up after 1 s). */
export const PING_MS = 200;
/** Two Escape presses within this many ms release the capture. */
export const ESC_ESC_MS = 500;
/** Pixel-mode wheel delta that makes one step (Chromium reports 100 per notch). */
const WHEEL_STEP_PX = 100;
/** A wheel event after this much quiet starts a new gesture, which always moves one step. */
const WHEEL_GESTURE_MS = 300;
/** At most this many wheel steps from one event. */
const WHEEL_MAX_STEPS = 3;

/** DOM MouseEvent.button → HID buttons bit. */
const BUTTON_BITS = { 0: 1, 1: 4, 2: 2 };

/**
 * Where client point (cx, cy) falls in the picture shown by `el` (object-fit: contain) whose
 * intrinsic size is w x h: {x, y} clamped to 0..1. Exported for tests.
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

export class InputController {
  /**
   * @param {object} opts
   * @param {HTMLElement} opts.area  the focusable element around the picture
   * @param {() => {el: HTMLElement, w: number, h: number}} opts.picture  the picture element
   *        now shown and its intrinsic size
   * @param {(msg: object) => boolean} opts.send  sends one message; false if it could not
   * @param {(captured: boolean) => void} [opts.onCaptureChange]
   * @param {() => boolean} [opts.available]  whether input can reach the device now; a click
   *        does not capture while it is false
   */
  constructor({ area, picture, send, onCaptureChange = () => {}, available = () => true }) {
    this.area = area;
    this.available = available;
    this.picture = picture;
    this.send = send;
    this.onCaptureChange = onCaptureChange;
    this.captured = false;
    this.keys = new Set(); // codes held down
    this.buttons = 0;
    this.lastMouse = null; // {cx, cy} of the last move
    this.moveQueued = false; // an animation frame callback is scheduled
    this.movePending = false; // a move is waiting for it (a click sends it at once instead)
    this.pingTimer = null;
    this.lastEscape = 0;
    this.wheelAcc = { x: 0, y: 0 };
    this.wheelAt = { x: -Infinity, y: -Infinity };
    this.listen();
  }

  listen() {
    const a = this.area;
    a.addEventListener('keydown', (e) => this.key(e, true));
    a.addEventListener('keyup', (e) => this.key(e, false));
    a.addEventListener('mousedown', (e) => this.mouseDown(e));
    window.addEventListener('mouseup', (e) => this.mouseUp(e));
    a.addEventListener('mousemove', (e) => this.mouseMove(e));
    a.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    a.addEventListener('contextmenu', (e) => e.preventDefault());
    a.addEventListener('blur', () => this.release());
    window.addEventListener('blur', () => this.releaseAll());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.releaseAll();
    });
  }

  // ===== capture =====

  capture() {
    if (this.captured || !this.available()) return;
    this.captured = true;
    this.area.focus({ preventScroll: true });
    this.onCaptureChange(true);
  }

  /** Ends the capture and releases everything held. */
  release() {
    if (!this.captured) return;
    this.captured = false;
    this.releaseAll();
    if (document.activeElement === this.area) this.area.blur();
    this.onCaptureChange(false);
  }

  // ===== keyboard =====

  key(e, down) {
    if (!this.captured) return;
    e.preventDefault();
    e.stopPropagation();
    if (!e.code) return; // synthetic or IME event without a physical key
    if (down && e.code === 'Escape') {
      const now = performance.now();
      if (now - this.lastEscape < ESC_ESC_MS) {
        this.lastEscape = 0;
        this.release();
        return;
      }
      this.lastEscape = now;
    }
    if (down) {
      if (e.repeat || this.keys.has(e.code)) return; // the host does its own auto-repeat
      this.keys.add(e.code);
    } else {
      if (!this.keys.has(e.code)) return; // its keydown happened before the capture
      this.keys.delete(e.code);
    }
    this.send({ type: 'key', code: e.code, down });
    this.updatePing();
  }

  // ===== mouse =====

  coords(cx, cy) {
    const { el, w, h } = this.picture();
    return pictureCoords(el.getBoundingClientRect(), w, h, cx, cy);
  }

  sendMouse(cx, cy) {
    this.movePending = false;
    const { x, y } = this.coords(cx, cy);
    this.send({ type: 'mouse_abs', x, y, buttons: this.buttons });
  }

  mouseMove(e) {
    if (!this.captured) return;
    this.lastMouse = { cx: e.clientX, cy: e.clientY };
    this.movePending = true;
    if (this.moveQueued) return;
    this.moveQueued = true;
    requestAnimationFrame(() => {
      this.moveQueued = false;
      if (!this.movePending || !this.captured || !this.lastMouse) return;
      this.movePending = false;
      this.sendMouse(this.lastMouse.cx, this.lastMouse.cy);
    });
  }

  mouseDown(e) {
    if (!this.captured) {
      e.preventDefault();
      this.capture(); // the capturing click is not forwarded
      return;
    }
    e.preventDefault();
    this.area.focus({ preventScroll: true });
    const bit = BUTTON_BITS[e.button];
    if (!bit) return;
    this.buttons |= bit;
    this.lastMouse = { cx: e.clientX, cy: e.clientY };
    this.sendMouse(e.clientX, e.clientY);
    this.updatePing();
  }

  mouseUp(e) {
    const bit = BUTTON_BITS[e.button];
    if (!bit || !(this.buttons & bit)) return;
    this.buttons &= ~bit;
    if (!this.captured) return;
    // Released outside the screen: report it where the pointer last was on the picture
    // (mouseDown always sets lastMouse, so it is there whenever a button was held).
    const at = this.area.contains(e.target) ? { cx: e.clientX, cy: e.clientY } : this.lastMouse;
    if (at) this.sendMouse(at.cx, at.cy);
    this.updatePing();
  }

  wheel(e) {
    if (!this.captured) return;
    e.preventDefault();
    const dy = this.wheelSteps('y', e.deltaY, e.deltaMode);
    const dx = this.wheelSteps('x', e.deltaX, e.deltaMode);
    if (dx === 0 && dy === 0) return;
    // Scrolling down (deltaY > 0) is a negative HID wheel step; scrolling right is positive pan.
    const msg = { type: 'wheel', dx, dy: dy === 0 ? 0 : -dy };
    this.send(msg);
  }

  /** Turns a wheel delta into whole steps, accumulating pixel deltas across events. */
  wheelSteps(axis, delta, mode) {
    if (!delta) return 0;
    if (mode !== 0) return Math.sign(delta); // lines or pages: one step per event
    const now = performance.now();
    const fresh = now - (this.wheelAt[axis] ?? -Infinity) > WHEEL_GESTURE_MS;
    this.wheelAt[axis] = now;
    if (fresh) {
      // Touchpads send many small deltas: the first of a gesture always scrolls.
      this.wheelAcc[axis] = Math.abs(delta) < WHEEL_STEP_PX ? Math.sign(delta) * WHEEL_STEP_PX : delta;
    } else {
      this.wheelAcc[axis] += delta;
    }
    const steps = Math.trunc(this.wheelAcc[axis] / WHEEL_STEP_PX);
    if (steps === 0) return 0;
    this.wheelAcc[axis] -= steps * WHEEL_STEP_PX;
    return Math.max(-WHEEL_MAX_STEPS, Math.min(WHEEL_MAX_STEPS, steps));
  }

  // ===== keep-alive and release =====

  get holding() {
    return this.keys.size > 0 || this.buttons !== 0;
  }

  updatePing() {
    if (this.holding && !this.pingTimer) {
      this.pingTimer = setInterval(() => this.send({ type: 'ping' }), PING_MS);
    } else if (!this.holding && this.pingTimer) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
  }

  /** Forgets everything held and tells the device to release it. */
  releaseAll() {
    this.keys.clear();
    this.buttons = 0;
    this.wheelAcc = { x: 0, y: 0 };
    this.updatePing();
    this.send({ type: 'release_all' });
  }
}
