// app.js — entry point of the web UI (index.html): decides between the login form and the
// viewer, starts WebRTC over /ws (or the MJPEG fallback), wires input capture, the
// special-keys menu and the paste box to the `hid` data channel, shows what the device says
// on it (keyboard LEDs, errors), and keeps the status line up to date. The Power menu (front
// panel, buttons, Wake-on-LAN) is power.js, the Media menu (virtual media) media.js, the
// Stream menu (bitrate, JPEG quality) stream-settings.js. A session whose /api/state says
// `"role":"viewer"` is view only: no input controls, no capture, the Power, Media and Stream
// menus' controls disabled.
//
// Benchmarks and tests read `window.periscope`: {state, pc, frames, lastStrip, latencies,
// fallback} (see probe.js for what the measurement fields mean), plus connection (the peer
// connection's state), channel (the `hid` RTCDataChannel), session (the server's id),
// mouseMode ('absolute' | 'relative'), pointerLock (null, or the last of 'locked',
// 'released', 'refused'), leds ({caps, num, scroll} as last reported), viewOnly,
// fullscreen ({active, keyboardLocked}) and power ({atx, gpio, last}: the last GET /api/atx
// and /api/gpio bodies and the Power menu's last result line {ok, text}) and media ({status,
// last, progress}: the last GET /api/msd body, the Media menu's last result line and the
// last upload's progress {name, loaded, total, reported, done}).
// URL parameter `?mjpeg=1` forces the MJPEG fallback.

import { fetchState, login, logout, viewerCount } from './api.js';
import { Signaling } from './signaling.js';
import { WebRtcSession, webrtcAvailable } from './video.js';
import { InputController } from './input.js';
import { FrameProbe } from './probe.js';
import { createMjpegPicture } from './mjpeg-view.js';
import { buildKeysMenu, closeOnOutsideClick, comboMessages } from './keys-menu.js';
import { PasteBox, defaultLayout } from './paste.js';
import { Fullscreen } from './fullscreen.js';
import { StatsOverlay } from './stats.js';
import { PowerPanel } from './power.js';
import { StreamPanel } from './stream-settings.js';
import { JigglerToggle } from './jiggler.js';
import { MediaPanel } from './media.js';

/** Period of GET /api/state polling when no /ws pushes state (MJPEG fallback). */
const STATE_POLL_MS = 2000;
/** Status line refresh period. */
const STATUS_MS = 500;
/** How long a transient note stays up. */
const TOAST_MS = 4000;
/** Where the chosen mouse mode is remembered between visits. */
const MOUSE_MODE_KEY = 'periscope.mouseMode';

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
  mouseMode: 'absolute',
  pointerLock: null,
  leds: null,
  viewOnly: false,
  fullscreen: { active: false, keyboardLocked: false },
  power: { atx: null, gpio: null, last: null },
  media: { status: null, last: null, progress: null },
};
window.periscope = P;

const ui = {
  session: null, // WebRtcSession
  signaling: null, // Signaling
  probe: null, // FrameProbe
  input: null, // InputController
  paste: null, // PasteBox
  fullscreen: null, // Fullscreen
  power: null, // PowerPanel
  stream: null, // StreamPanel
  jiggler: null, // JigglerToggle
  media: null, // MediaPanel
  picture: null, // the <video>, or the MJPEG canvas (or <img>), on screen
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
  const { status, retryAfter } = await login($('user').value.trim() || 'admin', $('password').value);
  button.disabled = false;
  if (status === 200) {
    $('password').value = '';
    $('login').hidden = true;
    const { status: s, state } = await fetchState();
    if (s === 200) return startViewer(state);
    return loginError(`signed in, but /api/state answered ${s || 'nothing'}`);
  }
  if (status === 401) loginError('wrong user or password');
  else if (status === 429) {
    loginError(retryAfter ? `too many attempts, wait ${retryAfter} s` : 'too many attempts, wait');
  } else if (status === 0) loginError('cannot reach the appliance');
  else loginError(`login failed (HTTP ${status})`);
  $('password').select();
}

// ===== viewer =====

function startViewer(state) {
  $('login').hidden = true;
  $('viewer').hidden = false;
  $('leds').hidden = false;
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
    onLockChange: pointerLockChanged,
    available: () => !!ui.session?.channelOpen && !P.viewOnly,
    escReleases: () => !ui.fullscreen?.keyboardLocked,
  });
  setupControls();
  setupStats();
  applyState(state);
  setupPower();
  setupMedia();
  setupStream();
  $('logout').hidden = false;
  $('logout').addEventListener('click', signOut);
  captureChanged(false);
  setInterval(renderStatus, STATUS_MS);

  const forced = new URLSearchParams(window.location.search).get('mjpeg') === '1';
  if (forced) return useFallback('MJPEG requested by ?mjpeg=1');
  if (!webrtcAvailable()) return useFallback('this browser has no RTCPeerConnection');
  ui.probe = new FrameProbe(P, isTestPattern).watchVideo(video);
  startWebRtc(video);
}

/** The stats overlay: the "Stats" button, or ?stats=1 to open with it shown. */
function setupStats() {
  const page = () => ({ ...P, framesPerSecond: ui.probe?.framesPerSecond });
  const overlay = new StatsOverlay($('stats'), page);
  const button = $('stats-toggle');
  const set = (on) => button.setAttribute('aria-pressed', String(on));
  button.addEventListener('click', () => set(overlay.toggle()));
  if (new URLSearchParams(window.location.search).get('stats') === '1') {
    overlay.show();
    set(true);
  }
}

/** The input controls in the header: mouse mode, jiggler, special keys, paste, release, fullscreen. */
function setupControls() {
  $('release').addEventListener('click', () => ui.input.release());
  setMouseMode(localStorage.getItem(MOUSE_MODE_KEY) ?? 'absolute');
  $('mouse-mode').addEventListener('click', () => {
    const next = ui.input.mouseMode === 'relative' ? 'absolute' : 'relative';
    setMouseMode(next);
    localStorage.setItem(MOUSE_MODE_KEY, next);
  });
  ui.jiggler = new JigglerToggle($('jiggler'));
  ui.jiggler.start();
  buildKeysMenu($('keys-menu'), (item) => sendCombo(item));
  ui.paste = new PasteBox(
    { text: $('paste-text'), layout: $('paste-layout'), send: $('paste-send'), message: $('paste-message') },
    sendHid,
  );
  closeOnOutsideClick($('paste-menu'));
  if (Fullscreen.supported) {
    ui.fullscreen = new Fullscreen($('screen'), fullscreenChanged);
    $('fullscreen').hidden = false;
    $('fullscreen').addEventListener('click', () => ui.fullscreen.toggle());
  }
}

/** The Power menu: shown when the appliance has a front panel, buttons or Wake-on-LAN. */
function setupPower() {
  ui.power = new PowerPanel(
    {
      menu: $('power-menu'),
      summaryLed: $('power-dot'),
      atx: $('power-atx'),
      led: $('power-led'),
      atxButtons: $('power-atx-buttons'),
      buttons: $('power-buttons'),
      buttonList: $('power-button-list'),
      wol: $('power-wol'),
      wolButton: $('power-wol-send'),
      viewOnlyNote: $('power-view-only'),
      message: $('power-message'),
      ...confirmDialog(),
    },
    {
      viewOnly: () => P.viewOnly,
      onChange: (s) => {
        P.power = s;
      },
    },
  );
  ui.power.start();
}

/** The Stream menu: H.264 bitrate and JPEG quality, read when it opens. */
function setupStream() {
  ui.stream = new StreamPanel(
    {
      menu: $('stream-menu'),
      h264: $('stream-h264'),
      jpeg: $('stream-jpeg'),
      apply: $('stream-apply'),
      note: $('stream-note'),
      message: $('stream-message'),
    },
    { viewOnly: () => P.viewOnly },
  );
  ui.stream.start();
}

/** The confirmation <dialog> the Power and Media menus share. */
function confirmDialog() {
  return {
    dialog: $('power-dialog'),
    dialogTitle: $('power-dialog-title'),
    dialogText: $('power-dialog-text'),
    dialogConfirm: $('power-dialog-confirm'),
    dialogCancel: $('power-dialog-cancel'),
  };
}

/** The Media menu: virtual media images (shown when GET /api/msd answers). */
function setupMedia() {
  ui.media = new MediaPanel(
    {
      menu: $('media-menu'),
      summary: $('media-summary'),
      attached: $('media-attached'),
      list: $('media-list'),
      uploads: $('media-uploads'),
      file: $('media-file'),
      upload: $('media-upload'),
      progress: $('media-progress'),
      progressText: $('media-progress-text'),
      limit: $('media-limit'),
      note: $('media-note'),
      viewOnlyNote: $('media-view-only'),
      message: $('media-message'),
      ...confirmDialog(),
    },
    {
      viewOnly: () => P.viewOnly,
      onChange: (s) => {
        P.media = s;
      },
    },
  );
  ui.media.start();
}

/**
 * A new state object (GET /api/state or a /ws push): keeps the role and layout in step. A
 * state without `role` leaves the role as it was (pushes need not repeat it).
 */
function applyState(state) {
  const first = P.state === null;
  P.state = state;
  if (first && ui.paste) ui.paste.setLayout(defaultLayout(state));
  const viewOnly = state && 'role' in state ? state.role === 'viewer' : P.viewOnly;
  if (viewOnly === P.viewOnly && !first) return;
  P.viewOnly = viewOnly;
  if (viewOnly) ui.input?.release();
  $('view-only').hidden = !viewOnly;
  $('controls').hidden = viewOnly;
  if (ui.power?.model) ui.power.render();
  if (ui.media?.model) ui.media.render();
  renderHint();
}

/** The picture element now shown and its intrinsic size, for mouse coordinates. */
function currentPicture() {
  const el = ui.picture;
  if (el instanceof HTMLVideoElement) return { el, w: el.videoWidth, h: el.videoHeight };
  if (el instanceof HTMLCanvasElement) return { el, w: el.width, h: el.height };
  return { el, w: el.naturalWidth, h: el.naturalHeight };
}

function isTestPattern() {
  return !P.state || P.state.source === 'test-pattern';
}

async function startWebRtc(video) {
  ui.signaling = new Signaling({
    onState: (s) => applyState(stateFields(s)),
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

  const shown = createMjpegPicture('/stream.mjpeg', { onError: (reason) => toast(reason) });
  const video = $('video');
  video.srcObject = null;
  video.replaceWith(shown.el);
  ui.picture = shown.el;
  P.mjpeg = shown.view;
  ui.probe = new FrameProbe(P, isTestPattern).watchMjpegPicture(shown);

  $('fallback-reason').textContent = `(${reason})`;
  $('fallback-note').hidden = false;
  renderInputNote();
  if (!keepInput) pollState();
}

function pollState() {
  if (ui.pollTimer) return;
  ui.pollTimer = setInterval(async () => {
    const { status, state } = await fetchState();
    if (status === 200) applyState(state);
    else if (status === 401) toast('session expired: reload to sign in again');
  }, STATE_POLL_MS);
}

// ===== input =====

/** Sends one `hid` message; false when it could not (no channel, or a view-only session). */
function sendHid(msg) {
  if (P.viewOnly) return false;
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

function setMouseMode(mode) {
  ui.input.setMouseMode(mode);
  P.mouseMode = ui.input.mouseMode;
  const relative = P.mouseMode === 'relative';
  const button = $('mouse-mode');
  button.textContent = relative ? 'Mouse: relative' : 'Mouse: absolute';
  button.setAttribute('aria-pressed', String(relative));
  renderHint();
}

function pointerLockChanged(state) {
  P.pointerLock = state;
  if (state === 'released') toast('pointer lock released — click the screen to control again');
  else if (state === 'refused') {
    toast('pointer lock refused: relative motion is read while the pointer is over the screen');
  }
  renderHint();
}

function fullscreenChanged(active, keyboardLocked) {
  P.fullscreen = { active, keyboardLocked };
  if (active) {
    ui.input?.capture(); // the fullscreen click is the user gesture Pointer Lock needs
    if (keyboardLocked) toast('keyboard locked to the remote host — hold Esc to leave fullscreen');
  }
  renderHint();
}

/** Sends a special-keys menu entry: every key down, then every key up. */
function sendCombo(item) {
  if (P.viewOnly) return;
  for (const msg of comboMessages(item.codes)) {
    if (!sendHid(msg)) return toast(`${item.title ?? item.label} not sent: input is not connected`);
  }
}

/** The line over the screen that says how to take or give back control. */
function hintText() {
  const input = ui.input;
  if (P.viewOnly) return 'view only';
  if (!ui.session?.channelOpen) return P.fallback ? 'view only' : 'connecting…';
  const relative = input?.mouseMode === 'relative';
  if (!input?.captured) return relative ? 'click to control (relative mouse: locks the pointer)' : 'click to control';
  if (ui.fullscreen?.keyboardLocked) return 'keyboard locked — hold Esc to leave fullscreen';
  if (relative && P.pointerLock === 'locked' && document.pointerLockElement) {
    return 'pointer locked — press Esc to release';
  }
  if (relative) return 'relative mouse (no pointer lock) — press Esc twice to release';
  return 'input captured — press Esc twice to release';
}

function renderHint() {
  $('screen').classList.toggle('inputless', !ui.session?.channelOpen || P.viewOnly);
  const hint = $('capture-hint');
  const text = hintText();
  if (hint.textContent !== text) hint.textContent = text;
}

function renderInputNote() {
  const open = !!ui.session?.channelOpen;
  const connecting = !P.fallback && !['connected', 'failed', 'closed'].includes(P.connection);
  $('input-note').hidden = open || connecting || P.viewOnly;
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
    P.leds = { caps: !!msg.caps, num: !!msg.num, scroll: !!msg.scroll };
    showLed('led-caps', 'Caps Lock', P.leds.caps);
    showLed('led-num', 'Num Lock', P.leds.num);
    showLed('led-scroll', 'Scroll Lock', P.leds.scroll);
  } else if (msg?.type === 'error') {
    const reason = String(msg.reason ?? 'refused');
    if (!ui.paste?.claimsError(reason)) toast(`input: ${reason}`);
  }
}

function showLed(id, name, on) {
  const el = $(id);
  el.classList.toggle('on', on);
  el.title = `${name}: ${on ? 'on' : 'off'}`;
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
  if (s.hid) parts.push(s.hid_target === 'disconnected' ? `HID ${s.hid}: target not connected` : `HID ${s.hid}`);
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
