// stream-settings.js — the "Stream" menu in the header: the H.264 bitrate every WebRTC viewer
// shares (the full rung; a slow viewer still drops to the low rung on its own) and the JPEG
// quality of the MJPEG page and snapshots, changed while everyone watches (GET/POST
// /api/stream). The menu reads the settings each time it opens; Apply sends only what
// changed. A view-only session sees them with the controls disabled.
//
// The pure parts — the form's state from GET's body (formModel) and the body to POST from what
// was typed (changeFrom) — are exported for tests (tests/browser/stream-settings.test.mjs);
// StreamPanel does the DOM and fetches.

import { requestJson } from './api.js';

/**
 * What to render from the last GET /api/stream body (`view`, null when not answered) →
 * {h264, jpeg, h264Min, h264Max, jpegMin, jpegMax, disabled, note}.
 */
export function formModel(view, viewOnly) {
  const limits = view?.limits ?? {};
  const [h264Min, h264Max] = limits.h264_kbps ?? [100, 20000];
  const [jpegMin, jpegMax] = limits.jpeg_quality ?? [10, 100];
  let note = '';
  if (!view) note = 'the settings could not be read';
  else if (viewOnly) note = 'view only: the controls are disabled';
  else if (view.h264_kbps_applied === false) note = 'the H.264 encoder could not take the last bitrate: it keeps its own';
  return {
    h264: view ? String(view.h264_kbps) : '',
    jpeg: view ? String(view.jpeg_quality) : '',
    h264Min,
    h264Max,
    jpegMin,
    jpegMax,
    disabled: !view || viewOnly,
    note,
  };
}

/**
 * The POST body for what was typed (`h264`, `jpeg`: the inputs' strings) against the settings
 * shown (`view`) → {body} with only the changed fields, or {error} naming a field outside its
 * range, or {body: null} when nothing changed.
 */
export function changeFrom(h264, jpeg, view) {
  const m = formModel(view, false);
  const body = {};
  const fields = [
    ['h264_kbps', 'H.264 kbit/s', h264, m.h264Min, m.h264Max, view?.h264_kbps],
    ['jpeg_quality', 'JPEG quality', jpeg, m.jpegMin, m.jpegMax, view?.jpeg_quality],
  ];
  for (const [key, label, text, min, max, now] of fields) {
    const s = String(text ?? '').trim();
    if (s === '') continue;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) return { error: `${label} must be a whole number from ${min} to ${max}` };
    if (n !== now) body[key] = n;
  }
  return { body: Object.keys(body).length ? body : null };
}

/** The Stream menu (elements: menu, h264, jpeg, apply, note, message). */
export class StreamPanel {
  constructor(el, { viewOnly }) {
    this.el = el;
    this.viewOnly = viewOnly;
    this.view = null;
  }

  start() {
    this.el.menu.addEventListener('toggle', () => {
      if (this.el.menu.open) this.refresh();
    });
    this.el.apply.addEventListener('click', () => this.apply());
    for (const input of [this.el.h264, this.el.jpeg]) {
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') this.apply();
      });
    }
  }

  async refresh() {
    const { status, body } = await requestJson('GET', '/api/stream');
    this.view = status === 200 ? body : null;
    this.render();
  }

  render() {
    const m = formModel(this.view, this.viewOnly());
    const { h264, jpeg, apply, note } = this.el;
    h264.value = m.h264;
    jpeg.value = m.jpeg;
    h264.min = m.h264Min;
    h264.max = m.h264Max;
    jpeg.min = m.jpegMin;
    jpeg.max = m.jpegMax;
    for (const c of [h264, jpeg, apply]) c.disabled = m.disabled;
    note.textContent = m.note;
    note.hidden = !m.note;
  }

  say(text, error) {
    this.el.message.textContent = text;
    this.el.message.classList.toggle('error', !!error);
    this.el.message.hidden = false;
  }

  async apply() {
    if (this.viewOnly() || !this.view) return;
    const change = changeFrom(this.el.h264.value, this.el.jpeg.value, this.view);
    if (change.error) return this.say(change.error, true);
    if (!change.body) return this.say('nothing changed');
    this.el.apply.disabled = true;
    const { status, body } = await requestJson('POST', '/api/stream', change.body);
    this.el.apply.disabled = false;
    if (status === 200 && body) {
      this.view = body;
      this.render();
      this.say(`applied: H.264 ${body.h264_kbps} kbit/s, JPEG quality ${body.jpeg_quality}`);
    } else {
      this.say(body?.error ?? `the appliance answered ${status || 'nothing'}`, true);
    }
  }
}
