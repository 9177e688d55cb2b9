// mjpeg.js — script of mjpeg.html, the MJPEG fallback page: shows /stream.mjpeg (on a canvas
// fed by mjpeg-view.js, or an <img> where the browser cannot), decodes the timestamp strip when the test pattern is on, and shows
// resolution, frame rate and latency. Exposes the same `window.periscope` record as the main
// page (with fallback: true) so the same tests and benchmarks can read it.

import { fetchState, viewerCount } from './api.js';
import { createMjpegPicture } from './mjpeg-view.js';
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

const screen = document.getElementById('screen');
const shown = createMjpegPicture(screen.dataset.stream, {
  onError: (reason) => {
    console.warn(`periscope: ${reason}`);
    refreshState();
  },
});
const { el: picture, view } = shown;
screen.append(picture);
const probe = new FrameProbe(P, () => !P.state || P.state.source === 'test-pattern').watchMjpegPicture(shown);
P.mjpeg = view;

/** Intrinsic size of the picture shown: the canvas's or the <img>'s. */
const pictureSize = () => (view ? [view.width, view.height] : [picture.naturalWidth, picture.naturalHeight]);

async function refreshState() {
  const { status, state } = await fetchState();
  if (status === 200) P.state = state;
  document.getElementById('auth-note').hidden = status !== 401;
}

function renderStatus() {
  const parts = [];
  const [w, h] = pictureSize();
  if (w > 0) parts.push(`${w}×${h}`);
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

refreshState();
setInterval(refreshState, STATE_POLL_MS);
setInterval(renderStatus, STATUS_MS);
