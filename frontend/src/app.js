// app.js — entry point of the web UI (index.html): decides between the login form and the
// viewer, starts WebRTC over /ws (or the MJPEG fallback), wires input capture to the `hid`
// data channel, and keeps the status line up to date.
//
// Benchmarks and tests read `window.periscope`: {state, pc, frames, lastStrip, latencies,
// fallback} (see probe.js for what the measurement fields mean), plus connection (the peer
// connection's state), channel (the `hid` RTCDataChannel) and session (the server's id).
// URL parameter `?mjpeg=1` forces the MJPEG fallback.

import { fetchState, login, logout, viewerCount } from './api.js';
import { Signaling } from './signaling.js';
import { WebRtcSession, webrtcAvailable } from './video.js';
import { InputController } from './input.js';
import { FrameProbe } from './probe.js';

/** Period of GET /api/state polling when no /ws pushes state (MJPEG fallback). */
const STATE_POLL_MS = 2000;
/** Status line refresh period. */
const STATUS_MS = 500;
/** How long a transient note stays up. */
const TOAST_MS = 4000;

const $ = (id) => document.getElementById(id);

const P = {
  state: null,
  pc: null,
  frames: 0,
  lastStrip: null,
  latencies: [],
  fallback: false,
  connection: 'new',
  channel: null,
  session: null,
};
window.periscope = P;

const ui = {
  session: null, // WebRtcSession
  signaling: null, // Signaling
  probe: null, // FrameProbe
  input: null, // InputController
  picture: null, // the <video> or <img> on screen
  pollTimer: null,
  toastTimer: null,
};

// ===== login =====

function showLogin() {
  $('viewer').hidden = true;
  $('login').hidden = false;
  $('status').textContent = 'not signed in';
  $('password').focus();
  $('login-form').addEventListener('submit', onLoginSubmit);
}

function loginError(text) {
  const el = $('login-error');
  el.textContent = text;
  el.hidden = !text;
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  const button = $('login-submit');
  button.disabled = true;
  loginError('');
  const { status, retryAfter } = await login($('password').value);
  button.disabled = false;
  if (status === 200) {
    $('password').value = '';
    $('login').hidden = true;
    const { status: s, state } = await fetchState();
    if (s === 200) return startViewer(state);
    return loginError(`signed in, but /api/state answered ${s || 'nothing'}`);
  }
  if (status === 401) loginError('wrong password');
  else if (status === 429) {
    loginError(retryAfter ? `too many attempts, wait ${retryAfter} s` : 'too many attempts, wait');
  } else if (status === 0) loginError('cannot reach the appliance');
  else loginError(`login failed (HTTP ${status})`);
  $('password').select();
}

// ===== viewer =====

function startViewer(state) {
  P.state = state;
  $('login').hidden = true;
  $('viewer').hidden = false;
  $('leds').hidden = false;
  $('fullscreen').hidden = !document.fullscreenEnabled;
  ui.picture = $('video');
  const video = ui.picture;
  video.playsInline = true;
  video.muted = true;
  video.autoplay = true;

  ui.input = new InputController({
    area: $('screen'),
    picture: currentPicture,
    send: sendHid,
    onCaptureChange: captureChanged,
    available: () => !!ui.session?.channelOpen,
  });
  $('release').addEventListener('click', () => ui.input.release());
  $('logout').hidden = false;
  $('logout').addEventListener('click', signOut);
  $('fullscreen').addEventListener('click', enterFullscreen);
  captureChanged(false);
  setInterval(renderStatus, STATUS_MS);

  const forced = new URLSearchParams(window.location.search).get('mjpeg') === '1';
  if (forced) return useFallback('MJPEG requested by ?mjpeg=1');
  if (!webrtcAvailable()) return useFallback('this browser has no RTCPeerConnection');
  ui.probe = new FrameProbe(P, isTestPattern).watchVideo(video);
  startWebRtc(video);
}

/** The picture element now shown and its intrinsic size, for mouse coordinates. */
function currentPicture() {
  const el = ui.picture;
  if (el instanceof HTMLVideoElement) return { el, w: el.videoWidth, h: el.videoHeight };
  return { el, w: el.naturalWidth, h: el.naturalHeight };
}

function isTestPattern() {
  return !P.state || P.state.source === 'test-pattern';
}

async function startWebRtc(video) {
  ui.signaling = new Signaling({
    onState: (s) => {
      P.state = stateFields(s);
    },
    onError: (reason) => toast(`server: ${reason}`),
    onClose: () => {
      if (ui.session && !P.fallback) ui.session.fail('signalling connection closed');
    },
  });
  ui.session = new WebRtcSession({
    video,
    signaling: ui.signaling,
    onFail: (reason) => useFallback(reason),
    onConnectionState: (s) => {
      P.connection = s;
    },
    onChannel: (ch) => {
      P.channel = ch;
      ch.onmessage = (ev) => deviceMessage(ev.data);
      ch.onopen = () => renderInputNote();
      ch.onclose = () => renderInputNote();
    },
  });
  try {
    await ui.signaling.open();
  } catch (err) {
    return ui.session.fail(err.message);
  }
  const started = ui.session.start(); // creates the peer connection before its first await
  P.pc = ui.session.pc;
  await started;
  P.session = ui.signaling.session;
}

/** A state push minus its `type` tag, shaped like GET /api/state. */
function stateFields(msg) {
  const { type: _type, ...rest } = msg;
  return rest;
}

// ===== fallback =====

function useFallback(reason) {
  if (P.fallback) return;
  P.fallback = true;
  console.warn(`periscope: using the MJPEG fallback: ${reason}`);
  const keepInput = ui.session?.channelOpen;
  if (ui.session && !keepInput) {
    ui.session.close();
    ui.signaling?.close();
  }
  if (ui.probe) ui.probe.stop();

  const img = document.createElement('img');
  img.id = 'mjpeg';
  img.className = 'picture';
  img.alt = 'remote screen (MJPEG)';
  img.draggable = false;
  img.src = '/stream.mjpeg';
  img.addEventListener('error', () => toast('MJPEG stream failed to load'));
  const video = $('video');
  video.srcObject = null;
  video.replaceWith(img);
  ui.picture = img;
  ui.probe = new FrameProbe(P, isTestPattern).watchImage(img);

  $('fallback-reason').textContent = `(${reason})`;
  $('fallback-note').hidden = false;
  renderInputNote();
  if (!keepInput) pollState();
}

function pollState() {
  if (ui.pollTimer) return;
  ui.pollTimer = setInterval(async () => {
    const { status, state } = await fetchState();
    if (status === 200) P.state = state;
    else if (status === 401) toast('session expired: reload to sign in again');
  }, STATE_POLL_MS);
}

// ===== input =====

function sendHid(msg) {
  const ch = ui.session?.channel;
  if (!ch || ch.readyState !== 'open') return false;
  try {
    ch.send(JSON.stringify(msg));
    return true;
  } catch (_) {
    return false;
  }
}

function captureChanged(captured) {
  $('release').hidden = !captured;
  $('screen').classList.toggle('captured', captured);
  renderHint();
}

function renderHint() {
  const captured = !!ui.input?.captured;
  let text = 'click to control';
  if (captured) text = 'input captured — press Esc twice to release';
  else if (!ui.session?.channelOpen) text = P.fallback ? 'view only' : 'connecting…';
  $('screen').classList.toggle('inputless', !ui.session?.channelOpen);
  const hint = $('capture-hint');
  if (hint.textContent !== text) hint.textContent = text;
}

function renderInputNote() {
  const open = !!ui.session?.channelOpen;
  const connecting = !P.fallback && !['connected', 'failed', 'closed'].includes(P.connection);
  $('input-note').hidden = open || connecting;
  renderHint();
  if (!open && ui.input?.captured) ui.input.release();
}

/** A message from the device on the `hid` channel. */
function deviceMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch (_) {
    return;
  }
  if (msg?.type === 'leds') {
    $('led-caps').classList.toggle('on', !!msg.caps);
    $('led-num').classList.toggle('on', !!msg.num);
    $('led-scroll').classList.toggle('on', !!msg.scroll);
  } else if (msg?.type === 'error') {
    toast(`input: ${msg.reason ?? 'refused'}`);
  }
}

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(ui.toastTimer);
  ui.toastTimer = setTimeout(() => {
    el.hidden = true;
  }, TOAST_MS);
}

/**
 * Fullscreen on the screen element, with the Keyboard Lock API where the browser has it, so
 * Esc, Alt+Tab and the like reach the remote host (holding Esc leaves fullscreen).
 */
async function enterFullscreen() {
  try {
    await $('screen').requestFullscreen();
    await navigator.keyboard?.lock?.();
  } catch (_) {
    // fullscreen refused, or no keyboard lock: plain fullscreen or nothing
  }
  ui.input?.capture();
}

async function signOut() {
  ui.input?.release();
  ui.session?.close();
  ui.signaling?.close();
  await logout();
  window.location.replace('/');
}

// ===== status line =====

function renderStatus() {
  const s = P.state ?? {};
  const parts = [];
  const { w, h } = ui.picture ? currentPicture() : { w: 0, h: 0 };
  if (w > 0) parts.push(`${w}×${h}`);
  else if (s.width) parts.push(`${s.width}×${s.height} (source)`);
  if (ui.probe && P.frames > 0) parts.push(`${ui.probe.framesPerSecond} fps`);
  if (P.fallback) parts.push('MJPEG');
  else if (s.codec) parts.push(s.encoder ? `${s.codec} (${s.encoder})` : s.codec);
  const viewers = viewerCount(s);
  if (viewers !== null) parts.push(`${viewers} viewer${viewers === 1 ? '' : 's'}`);
  if (s.source === 'test-pattern' && ui.probe) {
    const l = ui.probe.latencyMs;
    parts.push(l === null ? 'latency …' : `latency ${Math.round(l)} ms`);
  }
  if (s.hid) parts.push(`HID ${s.hid}`);
  if (!P.fallback) parts.push(`WebRTC ${P.connection}`);
  $('status').textContent = parts.join(' · ') || 'connecting…';
  renderInputNote();
}

// ===== start =====

async function main() {
  const { status, state } = await fetchState();
  // Anything but 200 (401, or no API at all) means: sign in first.
  if (status === 200) startViewer(state);
  else showLogin();
}

main();
