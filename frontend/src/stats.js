// stats.js — the debug overlay: where each frame's time goes, server side (from /metrics:
// capture → encoded, of which encoding, and encoded → last RTP packet sent) and in this page
// (the timestamp strip: frame reaches the page, frame displayed), with frame rate, bitrate
// and keyframes. Toggled by the "Stats" button or `?stats=1`; refreshed once a second.
//
// `parseMetrics` and `statRows` are pure (tested in tests/browser/unit.test.mjs); the
// `StatsOverlay` class does the fetching and drawing.

/**
 * Parses Prometheus text exposition into a map from `name{labels}` (exactly as written, labels
 * included) to a number. Comments, blank and malformed lines are skipped.
 */
export function parseMetrics(text) {
  const out = new Map();
  for (const raw of String(text).split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    if (cut <= 0) continue;
    const value = Number(line.slice(cut + 1));
    if (Number.isFinite(value)) out.set(line.slice(0, cut), value);
  }
  return out;
}

const ms = (seconds) => (seconds === undefined ? '—' : `${(seconds * 1000).toFixed(1)} ms`);
const median = (xs) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * The overlay's rows, [label, value] pairs, from two /metrics samples `dt` seconds apart
 * (`before` may be null on the first tick) and the page's record (`window.periscope`:
 * `latencies` [{receive, display, decoded, counter}], and `framesPerSecond`).
 */
export function statRows(now, before, dt, page) {
  const get = (m, name) => (m ? m.get(name) : undefined);
  const rate = (name) => {
    const a = get(before, name);
    const b = get(now, name);
    return a === undefined || b === undefined || !(dt > 0) ? undefined : (b - a) / dt;
  };
  const h264 = (name) => `periscope_${name}{stream="h264"}`;
  const rows = [
    ['capture → encoded', ms(get(now, h264('capture_to_publish_seconds_last')))],
    ['  of which encode', ms(get(now, h264('encode_seconds_last')))],
    ['encoded → sent', ms(get(now, 'periscope_webrtc_send_seconds_last'))],
  ];
  const recent = (page?.latencies ?? []).slice(-30);
  const receive = median(recent.map((l) => l.receive).filter((v) => v !== null));
  const display = median(recent.map((l) => l.display).filter((v) => v !== null));
  const decoded = median(recent.map((l) => l.decoded).filter((v) => typeof v === 'number'));
  rows.push(['decoded in page', decoded === null ? '—' : `${decoded.toFixed(0)} ms`]);
  rows.push(['reaches page', receive === null ? '— (no strip)' : `${receive.toFixed(0)} ms`]);
  rows.push(['displayed', display === null ? '— (no strip)' : `${display.toFixed(0)} ms`]);
  const fps = page?.framesPerSecond;
  rows.push(['frames/s shown', fps === undefined ? '—' : String(fps)]);
  const encoded = rate(h264('encoded_frames_total'));
  rows.push(['frames/s encoded', encoded === undefined ? '—' : encoded.toFixed(1)]);
  const bytes = rate('periscope_webrtc_bytes_sent_total');
  rows.push(['sent (all viewers)', bytes === undefined ? '—' : `${((bytes * 8) / 1000).toFixed(0)} kbit/s`]);
  const keys = get(now, h264('keyframes_total'));
  rows.push(['keyframes', keys === undefined ? '—' : String(keys)]);
  const viewers = get(now, h264('viewers'));
  rows.push(['H.264 viewers', viewers === undefined ? '—' : String(viewers)]);
  return rows;
}

/** Fetches /metrics once a second while shown and draws the rows into `el`. */
export class StatsOverlay {
  /**
   * @param {HTMLElement} el  the overlay element (hidden while off)
   * @param {() => object} page  returns the page record (window.periscope plus fps)
   */
  constructor(el, page) {
    this.el = el;
    this.page = page;
    this.timer = null;
    this.last = null; // {metrics, at}
  }

  get shown() {
    return this.timer !== null;
  }

  toggle() {
    if (this.shown) this.hide();
    else this.show();
    return this.shown;
  }

  show() {
    if (this.shown) return;
    this.el.hidden = false;
    this.timer = setInterval(() => this.tick(), 1000);
    this.tick();
  }

  hide() {
    clearInterval(this.timer);
    this.timer = null;
    this.last = null;
    this.el.hidden = true;
  }

  async tick() {
    let text;
    try {
      const r = await fetch('/metrics', { credentials: 'same-origin', cache: 'no-store' });
      text = r.ok ? await r.text() : null;
    } catch {
      text = null;
    }
    if (!this.shown) return;
    if (text === null) {
      this.draw([['metrics', 'unavailable']]);
      return;
    }
    const now = { metrics: parseMetrics(text), at: performance.now() };
    const dt = this.last ? (now.at - this.last.at) / 1000 : 0;
    this.draw(statRows(now.metrics, this.last?.metrics ?? null, dt, this.page()));
    this.last = now;
  }

  draw(rows) {
    const table = document.createElement('table');
    for (const [label, value] of rows) {
      const tr = table.insertRow();
      tr.insertCell().textContent = label;
      tr.insertCell().textContent = value;
    }
    this.el.replaceChildren(table);
  }
}
