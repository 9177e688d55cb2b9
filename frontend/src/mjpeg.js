// mjpeg.js — script of mjpeg.html, the MJPEG fallback page: watches the <img> that shows
// /stream.mjpeg, decodes the timestamp strip when the test pattern is on, and shows
// resolution, frame rate and latency. Exposes the same `window.periscope` record as the main
// page (with fallback: true) so the same tests and benchmarks can read it.

import { fetchState, viewerCount } from './api.js';
import { FrameProbe } from './probe.js';

/** Period of GET /api/state polling. */
const STATE_POLL_MS = 2000;
/** Status line refresh period. */
const STATUS_MS = 500;

const P = {
  state: null,
  pc: null,
  frames: 0,
  lastStrip: null,
  latencies: [],
  fallback: true,
};
window.periscope = P;

const img = document.getElementById('mjpeg');
const probe = new FrameProbe(P, () => !P.state || P.state.source === 'test-pattern').watchImage(img);

async function refreshState() {
  const { status, state } = await fetchState();
  if (status === 200) P.state = state;
  document.getElementById('auth-note').hidden = status !== 401;
}

function renderStatus() {
  const parts = [];
  if (img.naturalWidth > 0) parts.push(`${img.naturalWidth}×${img.naturalHeight}`);
  if (P.frames > 0) parts.push(`${probe.framesPerSecond} fps`);
  parts.push('MJPEG');
  const s = P.state ?? {};
  const viewers = viewerCount(s);
  if (viewers !== null) parts.push(`${viewers} viewer${viewers === 1 ? '' : 's'}`);
  if (s.source === 'test-pattern') {
    const l = probe.latencyMs;
    parts.push(l === null ? 'latency …' : `latency ${Math.round(l)} ms`);
  }
  document.getElementById('status').textContent = parts.join(' · ');
}

img.addEventListener('error', () => refreshState());
refreshState();
setInterval(refreshState, STATE_POLL_MS);
setInterval(renderStatus, STATUS_MS);
