// fullscreen.js — fullscreen for the remote screen, with the Keyboard Lock API where the
// browser has it (Chromium): while fullscreen, `navigator.keyboard.lock()` makes Esc, Alt+Tab,
// the Win key and the like reach the page (and so the remote host) instead of the local OS;
// holding Esc leaves fullscreen. The lock is dropped when fullscreen ends, however it ends.

export class Fullscreen {
  /**
   * @param {HTMLElement} target  the element to show fullscreen
   * @param {(active: boolean, keyboardLocked: boolean) => void} onChange
   */
  constructor(target, onChange = () => {}) {
    this.target = target;
    this.onChange = onChange;
    this.keyboardLocked = false;
    document.addEventListener('fullscreenchange', () => this.changed());
  }

  /** Whether this browser can show an element fullscreen at all. */
  static get supported() {
    return !!document.fullscreenEnabled;
  }

  get active() {
    return document.fullscreenElement === this.target;
  }

  /** Enters fullscreen (call from a click), or leaves it. */
  async toggle() {
    try {
      if (this.active) await document.exitFullscreen();
      else await this.target.requestFullscreen({ navigationUI: 'hide' });
    } catch (_) {
      // refused (no user gesture, or not allowed): nothing changes
    }
  }

  async changed() {
    if (this.active) {
      try {
        await navigator.keyboard?.lock?.();
        this.keyboardLocked = !!navigator.keyboard?.lock;
      } catch (_) {
        this.keyboardLocked = false;
      }
    } else {
      navigator.keyboard?.unlock?.();
      this.keyboardLocked = false;
    }
    this.onChange(this.active, this.keyboardLocked);
  }
}
