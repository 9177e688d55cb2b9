// jiggler.js — the "Jiggler" toggle beside the mouse mode: the appliance's mouse jiggler
// (GET/POST /api/hid/jiggler), which nudges the remote pointer one step and back after a
// quiet interval so the remote screen does not lock or sleep while nobody types. Only a
// controller sees it (it sits in the input controls); the state is read at start and after
// each click.
//
// The pure part — the button's text, pressed state and title from the API's body
// (buttonModel) — is exported for tests (tests/browser/stream-settings.test.mjs).

import { requestJson } from './api.js';

/** The toggle's look from GET/POST /api/hid/jiggler's body (null: not answered). */
export function buttonModel(view) {
  if (!view) return { text: 'Jiggler: ?', pressed: false, title: 'the mouse jiggler could not be read' };
  const every = `${view.interval_s} s`;
  return view.enabled
    ? { text: 'Jiggler: on', pressed: true, title: `nudges the remote pointer after ${every} without input (to keep its screen awake); click to stop` }
    : { text: 'Jiggler: off', pressed: false, title: `click to nudge the remote pointer after ${every} without input, keeping its screen awake` };
}

/** The toggle (a <button>). */
export class JigglerToggle {
  constructor(button) {
    this.button = button;
    this.view = null;
  }

  async start() {
    this.button.addEventListener('click', () => this.toggle());
    const { status, body } = await requestJson('GET', '/api/hid/jiggler');
    this.show(status === 200 ? body : null);
  }

  show(view) {
    this.view = view;
    const m = buttonModel(view);
    this.button.textContent = m.text;
    this.button.title = m.title;
    this.button.setAttribute('aria-pressed', String(m.pressed));
  }

  async toggle() {
    const enabled = !this.view?.enabled;
    const body = { enabled };
    if (this.view?.interval_s) body.interval_s = this.view.interval_s;
    this.button.disabled = true;
    const res = await requestJson('POST', '/api/hid/jiggler', body);
    this.button.disabled = false;
    if (res.status === 200 && res.body) this.show(res.body);
    else this.button.title = res.body?.error ?? `the appliance answered ${res.status || 'nothing'}`;
  }
}
