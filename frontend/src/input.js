// input.js — input capture over the remote screen: what is captured when, the keyboard, the
// keep-alive and releasing, sent as `hid` data-channel messages (contracts.md, "The `hid` data
// channel"). The mouse itself (absolute or relative, wheel, Pointer Lock) is mouse.js.
//
// Click the screen to capture it (that click is not forwarded; in relative mouse mode it also
// asks for Pointer Lock). Esc pressed twice within ESC_ESC_MS (unless `escReleases()` says
// no, e.g. under Keyboard Lock in fullscreen), the Release button, focus leaving the screen or
// the pointer lock ending releases it. While captured: keydown/keyup →
// {"type":"key","code":e.code,"down":…} (auto-repeat is not re-sent: the host repeats
// itself). While a key or button is held a {"type":"ping"} goes out every PING_MS, and
// {"type":"release_all"} goes out on release, blur and the page being hidden.

import { Mouse } from './mouse.js';

/** Keep-alive period while a key or button is held (the device gives up after 1 s). */
export const PING_MS = 200;
/** Two Escape presses within this many ms release the capture. */
export const ESC_ESC_MS = 500;
export class InputController {
  /**
   * @param {object} opts
   * @param {HTMLElement} opts.area  the focusable element around the picture
   * @param {() => {el: HTMLElement, w: number, h: number}} opts.picture  the picture element
   *        now shown and its intrinsic size
   * @param {(msg: object) => boolean} opts.send  sends one message; false if it could not
   * @param {(captured: boolean) => void} [opts.onCaptureChange]
   * @param {(state: 'locked'|'released'|'refused') => void} [opts.onLockChange]  Pointer Lock
   * @param {() => boolean} [opts.available]  whether input can reach the device now; a click
   *        does not capture while it is false
   * @param {() => boolean} [opts.escReleases]  whether Esc Esc releases the capture now
   */
  constructor({
    area,
    picture,
    send,
    onCaptureChange = () => {},
    onLockChange = () => {},
    available = () => true,
    escReleases = () => true,
  }) {
    Object.assign(this, { area, send, onCaptureChange, onLockChange, available, escReleases });
    this.captured = false;
    this.keys = new Set(); // codes held down
    this.pingTimer = null;
    this.lastEscape = 0;
    this.mouse = new Mouse({
      area,
      picture,
      send,
      captured: () => this.captured,
      onButtons: () => this.updatePing(),
      onLockChange: (state) => this.lockChanged(state),
    });
    this.listen();
  }

  listen() {
    const a = this.area;
    a.addEventListener('keydown', (e) => this.key(e, true));
    a.addEventListener('keyup', (e) => this.key(e, false));
    a.addEventListener('mousedown', (e) => this.mouseDown(e));
    a.addEventListener('blur', () => this.release());
    window.addEventListener('blur', () => this.releaseAll());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.releaseAll();
    });
  }

  /** 'absolute' or 'relative'. */
  get mouseMode() {
    return this.mouse.mode;
  }

  /** Switches the mouse mode; a capture in progress ends (the pointer must be re-taken). */
  setMouseMode(mode) {
    if (mode === this.mouse.mode) return;
    this.release();
    this.mouse.setMode(mode);
  }

  // ===== capture =====

  /** Captures input; in relative mode also asks for Pointer Lock (call from a user gesture). */
  capture() {
    if (this.captured || !this.available()) return;
    this.captured = true;
    this.area.focus({ preventScroll: true });
    this.mouse.lock();
    this.onCaptureChange(true);
  }

  /** Ends the capture and releases everything held. */
  release() {
    if (!this.captured) return;
    this.captured = false;
    this.releaseAll();
    this.mouse.unlock();
    if (document.activeElement === this.area) this.area.blur();
    this.onCaptureChange(false);
  }

  lockChanged(state) {
    if (state === 'released') this.release(); // Esc or focus loss ended the pointer lock
    this.onLockChange(state);
  }

  mouseDown(e) {
    e.preventDefault();
    if (!this.captured) {
      this.capture(); // the capturing click is not forwarded
      return;
    }
    this.area.focus({ preventScroll: true });
    this.mouse.down(e);
  }

  // ===== keyboard =====

  key(e, down) {
    if (!this.captured) return;
    e.preventDefault();
    e.stopPropagation();
    if (!e.code) return; // synthetic or IME event without a physical key
    if (down && e.code === 'Escape' && this.escReleases()) {
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

  // ===== keep-alive and release =====

  get holding() {
    return this.keys.size > 0 || this.mouse.buttons !== 0;
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
    this.mouse.reset();
    this.updatePing();
    this.send({ type: 'release_all' });
  }
}
