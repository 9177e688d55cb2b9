// mouse.js — the mouse over the remote screen, in one of two modes, sent as `hid` messages
// (contracts.md): the DOM side of pointer.js.
//
// absolute (default): moves → {"type":"mouse_abs",x,y,buttons} at most once per animation
//   frame, x/y in 0..1 of the picture with the letterboxing taken out.
// relative: the capturing click asks for Pointer Lock on the screen; `movementX/Y` add up and
//   go out once per animation frame as {"type":"mouse_rel",dx,dy,buttons}, split so no message
//   exceeds ±127 (at most REL_STEPS_PER_SEND a frame; a faster flick finishes next frame). Where the browser refuses the lock, motion is still read from `movementX/Y`
//   while the pointer is over the picture (onLockChange reports 'refused'). The lock ending
//   (Esc, focus loss) is reported as 'released'; the input controller then ends the capture.
// Both: buttons 1 left, 2 right, 4 middle; wheel → {"type":"wheel","dx","dy"} in whole steps,
// dy positive = scroll up. Nothing is sent unless `captured()`.

import { pictureCoords, RelMotion, WheelStepper } from './pointer.js';

/** DOM MouseEvent.button → HID buttons bit. */
const BUTTON_BITS = { 0: 1, 1: 4, 2: 2 };

export class Mouse {
  /**
   * @param {object} opts
   * @param {HTMLElement} opts.area  the element around the picture (the pointer-lock target)
   * @param {() => {el: HTMLElement, w: number, h: number}} opts.picture  picture and its size
   * @param {(msg: object) => boolean} opts.send
   * @param {() => boolean} opts.captured  whether input is captured now
   * @param {() => void} opts.onButtons  a button went down or up (for the keep-alive)
   * @param {(state: 'locked'|'released'|'refused') => void} opts.onLockChange
   */
  constructor({ area, picture, send, captured, onButtons, onLockChange }) {
    Object.assign(this, { area, picture, send, captured, onButtons, onLockChange });
    this.mode = 'absolute';
    this.buttons = 0;
    this.lastMouse = null; // {cx, cy} of the last absolute move
    this.movePending = false; // an absolute move waits for the next animation frame
    this.frameQueued = false;
    this.rel = new RelMotion();
    this.wheelSteps = new WheelStepper();
    this.lockWanted = false; // we asked for the lock and have not seen it end
    this.listen();
  }

  listen() {
    const a = this.area;
    a.addEventListener('mousemove', (e) => this.move(e));
    a.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    a.addEventListener('contextmenu', (e) => e.preventDefault());
    window.addEventListener('mouseup', (e) => this.up(e));
    document.addEventListener('pointerlockchange', () => this.lockChanged());
    document.addEventListener('pointerlockerror', () => this.lockRefused());
  }

  get locked() {
    return document.pointerLockElement === this.area;
  }

  /** Switches mode ('absolute' | 'relative'); drops what the other mode had gathered. */
  setMode(mode) {
    this.mode = mode === 'relative' ? 'relative' : 'absolute';
    this.rel.clear();
    this.movePending = false;
    if (this.mode === 'absolute') this.unlock();
  }

  // ===== pointer lock =====

  /** Asks for Pointer Lock (relative mode; call from a click, which the browser requires). */
  lock() {
    if (this.mode !== 'relative' || this.locked) return;
    this.lockWanted = true;
    try {
      const p = this.area.requestPointerLock();
      if (p && typeof p.catch === 'function') p.catch(() => this.lockRefused());
    } catch (_) {
      this.lockRefused(); // no Pointer Lock API at all
    }
  }

  unlock() {
    this.lockWanted = false;
    if (this.locked) document.exitPointerLock();
  }

  lockChanged() {
    if (this.locked) return this.onLockChange('locked');
    if (!this.lockWanted) return;
    this.lockWanted = false;
    this.onLockChange('released');
  }

  /** The lock was refused (the error event and the rejected promise may both arrive). */
  lockRefused() {
    if (!this.lockWanted) return;
    this.lockWanted = false;
    this.onLockChange('refused');
  }

  // ===== motion =====

  move(e) {
    if (!this.captured()) return;
    if (this.mode === 'relative') {
      this.rel.add(e.movementX, e.movementY);
      if (this.rel.pending) this.queueFrame();
    } else {
      this.lastMouse = { cx: e.clientX, cy: e.clientY };
      this.movePending = true;
      this.queueFrame();
    }
  }

  queueFrame() {
    if (this.frameQueued) return;
    this.frameQueued = true;
    requestAnimationFrame(() => {
      this.frameQueued = false;
      if (this.captured()) this.flush();
    });
  }

  /** Sends what moved since the last frame. */
  flush() {
    if (this.mode === 'relative') {
      for (const [dx, dy] of this.rel.take()) {
        this.send({ type: 'mouse_rel', dx, dy, buttons: this.buttons });
      }
      if (this.rel.pending) this.queueFrame(); // a flick beyond one send's worth: the rest next frame
    } else if (this.movePending && this.lastMouse) {
      this.sendAbs(this.lastMouse.cx, this.lastMouse.cy);
    }
  }

  sendAbs(cx, cy) {
    this.movePending = false;
    const { el, w, h } = this.picture();
    const { x, y } = pictureCoords(el.getBoundingClientRect(), w, h, cx, cy);
    this.send({ type: 'mouse_abs', x, y, buttons: this.buttons });
  }

  /** A button change: pending motion first, then the new button state where the pointer is. */
  sendButtons(at) {
    if (this.mode === 'relative') {
      this.flush();
      this.send({ type: 'mouse_rel', dx: 0, dy: 0, buttons: this.buttons });
    } else if (at) {
      this.sendAbs(at.cx, at.cy);
    }
  }

  // ===== buttons and wheel =====

  /** A mousedown while captured (the input controller handles the capturing one). */
  down(e) {
    const bit = BUTTON_BITS[e.button];
    if (!bit) return;
    this.buttons |= bit;
    this.lastMouse = { cx: e.clientX, cy: e.clientY };
    this.sendButtons(this.lastMouse);
    this.onButtons();
  }

  up(e) {
    const bit = BUTTON_BITS[e.button];
    if (!bit || !(this.buttons & bit)) return;
    this.buttons &= ~bit;
    if (this.captured()) {
      // Released outside the screen: report it where the pointer last was on the picture
      // (down() always sets lastMouse, so it is there whenever a button was held).
      const inside = this.area.contains(e.target);
      this.sendButtons(inside ? { cx: e.clientX, cy: e.clientY } : this.lastMouse);
    }
    this.onButtons();
  }

  wheel(e) {
    if (!this.captured()) return;
    e.preventDefault();
    if (this.mode === 'relative') this.flush(); // the wheel goes to the pointer used last
    const msg = this.wheelSteps.message(e, performance.now());
    if (msg) this.send(msg);
  }

  /** Forgets held buttons and gathered motion (the caller sends release_all). */
  reset() {
    this.buttons = 0;
    this.rel.clear();
    this.wheelSteps.clear();
    this.movePending = false;
  }
}
