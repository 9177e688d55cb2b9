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
const { el: picture, view } = createMjpegPicture(screen.dataset.stream, {
  img: new URLSearchParams(window.location.search).get('img') === '1', // ?img=1: a plain <img>
  onError: (reason) => {
    console.warn(`periscope: ${reason}`);
    refreshState();
  },
});
picture.id = 'mjpeg';
picture.className = 'picture';
picture.setAttribute('role', 'img');
picture.setAttribute('aria-label', 'remote screen (MJPEG)');
screen.append(picture);
const testPattern = () => !P.state || P.state.source === 'test-pattern';
const probe = view ? new FrameProbe(P, testPattern).watchMjpeg(view) : new FrameProbe(P, testPattern).watchImage(picture);
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
