// e2e.mjs — headless-browser end-to-end test of a running periscope appliance (test pattern
// source, `--hid record:FILE` backend) through its real web UI in Chromium.
//
// Environment:
//   PERISCOPE_URL         base URL, e.g. https://127.0.0.1:18443 (self-signed cert is accepted)
//   PERISCOPE_PASSWORD    the admin password the server was started with
//   PERISCOPE_VIEWER_PASSWORD  the `viewer` user's password (PERISCOPE_VIEWER_PASSWORD of the
//                         server); the view-only check needs it
//   PERISCOPE_RECORD      the JSON-lines file the record HID backend appends reports to
//   PERISCOPE_CHROMIUM    browser binary (default /usr/bin/chromium)
//   PERISCOPE_SCREENSHOT  if set, a PNG of the logged-in page is saved there
//   PERISCOPE_E2E_SKIP_LOCKOUT=1  skip the last check, which locks this address out of
//                         logins for a while (so a re-run right after it would fail check 1)
//   PERISCOPE_E2E_NO_POINTER_LOCK=1  let the relative-mouse check pass without Pointer Lock
//                         (a browser that refuses it; the motion path is still checked)
//   PERISCOPE_E2E_FRONTEND  a directory (e.g. frontend/) whose files the browser gets instead
//                         of the binary's embedded UI: try UI changes without a rebuild
//   PERISCOPE_DEVICES_DIR where the commands of the server's front panel (devices.toml, as
//                         run.sh renders it) leave their marker files; the Power checks need it
//   PERISCOPE_WOL_PORT    the UDP port on 127.0.0.1 that config sends Wake-on-LAN to
//
// LEDs: the record backend reads `PERISCOPE_RECORD.leds` (words among caps num scroll) as the
// host's keyboard LEDs (src/hid/record.rs); the LED check writes it.
//
// Prints one line per check (PASS/FAIL name — detail) and then exactly `N passed, N failed`;
// exits non-zero when any check failed. Each check leaves the browser logged in, so a failure
// early on does not hide later results.

import { chromium } from 'playwright-core';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import http from 'node:http';
import dgram from 'node:dgram';
import crypto from 'node:crypto';

const BASE = (process.env.PERISCOPE_URL ?? 'https://127.0.0.1:18443').replace(/\/+$/, '');
const PASSWORD = process.env.PERISCOPE_PASSWORD ?? '';
const VIEWER_PASSWORD = process.env.PERISCOPE_VIEWER_PASSWORD ?? '';
/** Accept a refused Pointer Lock (relative motion is then read without it). */
const ALLOW_NO_POINTER_LOCK = process.env.PERISCOPE_E2E_NO_POINTER_LOCK === '1';
const RECORD = process.env.PERISCOPE_RECORD ?? '';
const CHROMIUM = process.env.PERISCOPE_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.PERISCOPE_SCREENSHOT ?? '';
const DEVICES_DIR = process.env.PERISCOPE_DEVICES_DIR ?? '';
const WOL_PORT = Number(process.env.PERISCOPE_WOL_PORT ?? 0);
/** The Wake-on-LAN MAC address of devices.toml. */
const WOL_MAC = '02005e102030';
/** How long an action's result may take to show in the Power menu (the maintenance command takes 3 s). */
const POWER_TIMEOUT_MS = 8000;

/** The server's media limit in the browser run (run.sh passes `--media-max-mb 1`). */
const MEDIA_MAX_BYTES = 1 << 20;
/** How long an upload, attach or delete may take to show in the Media menu. */
const MEDIA_TIMEOUT_MS = 8000;

/** The whole run is abandoned after this long (a hung page must not hang CI). */
const RUN_TIMEOUT_MS = 180_000;
/** How long the WebRTC video may take to show its first frame. */
const VIDEO_TIMEOUT_MS = 20_000;
/** How long a key press may take to reach the record file. */
const HID_TIMEOUT_MS = 5_000;
/** Press and release reports of KeyA (usage 0x04) in the 8-byte boot keyboard report. */
const REPORT_KEY_A = '0000040000000000';
const REPORT_NONE = '0000000000000000';
/** Ctrl+Alt+Del from the special-keys menu: Ctrl, +Alt, +Del (usage 0x4C), then up in reverse. */
const REPORTS_CTRL_ALT_DEL = [
  '0100000000000000',
  '0500000000000000',
  '05004c0000000000',
  '0500000000000000',
  '0100000000000000',
  REPORT_NONE,
];
/** "Hi" typed from the paste box: left shift + h (0x0B), then i (0x0C). */
const REPORT_SHIFT_H = '02000b0000000000';
const REPORT_I = '00000c0000000000';
/** How long an LED change written to the sidecar may take to show in the page. */
const LED_TIMEOUT_MS = 1500;
/** Wrong passwords the lockout check tries before giving up on seeing a 429. */
const LOCKOUT_MAX_ATTEMPTS = 30;

const LAUNCH = {
  executablePath: CHROMIUM,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--ignore-certificate-errors',
    '--autoplay-policy=no-user-gesture-required',
  ],
};

// ===== harness =====

let passed = 0;
let failed = 0;
const pageErrors = [];

async function check(name, fn) {
  try {
    const detail = await fn();
    passed++;
    console.log(`PASS ${name}${detail ? ` — ${detail}` : ''}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name} — ${err?.message ?? err}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() until it returns a truthy value or timeoutMs passes; returns the last value. */
async function poll(fn, timeoutMs, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!v && Date.now() < end) {
    await sleep(everyMs);
    v = await fn();
  }
  return v;
}

/** Status code of a GET without credentials; the body (maybe an endless stream) is not read. */
function rawStatus(path) {
  const url = new URL(path, BASE);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
      resolve(res.statusCode);
      res.destroy();
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 5 s`)));
    req.on('error', reject);
  });
}

function watchPage(page, label) {
  page.on('pageerror', (e) => pageErrors.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    if (process.env.PERISCOPE_E2E_VERBOSE) console.log(`  [${label} ${m.type()}] ${m.text()}`);
  });
  return page;
}

/** What the page exposes for tests, as plain data. */
function probe(page) {
  return page.evaluate(() => {
    const p = window.periscope;
    if (!p) return null;
    const video = document.getElementById('video');
    const img = document.getElementById('mjpeg');
    return {
      frames: p.frames,
      lastStrip: p.lastStrip,
      fallback: p.fallback,
      connection: p.connection ?? null,
      channel: p.channel ? p.channel.readyState : null,
      state: p.state,
      latencies: p.latencies.slice(-30),
      videoWidth: video ? video.videoWidth : 0,
      videoHeight: video ? video.videoHeight : 0,
      pictureTag: img ? img.tagName.toLowerCase() : null,
      mjpeg: p.mjpeg ? { shown: p.mjpeg.shown, dropped: p.mjpeg.dropped, broken: p.mjpeg.broken } : null,
      imgWidth: img ? (img.naturalWidth ?? img.width) : 0,
      imgHeight: img ? (img.naturalHeight ?? img.height) : 0,
    };
  });
}

/** Frames since `a` by the strip counter, mod 2^32. */
const counterDelta = (a, b) => (b.counter - a.counter) >>> 0;

function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1];
}

/** Waits for a decoded strip, then checks its counter advances over 2 s. */
async function stripAdvances(page) {
  const first = await poll(async () => (await probe(page))?.lastStrip, 10_000);
  assert(first, 'no timestamp strip decoded within 10 s');
  const f0 = (await probe(page)).frames;
  await sleep(2000);
  const p = await probe(page);
  const d = counterDelta(first, p.lastStrip);
  assert(d > 0 && d < 100_000, `strip counter did not advance (${first.counter} → ${p.lastStrip.counter})`);
  return { delta: d, frames: p.frames - f0, probe: p };
}

// ===== record file =====

async function recordSize() {
  try {
    return (await fs.stat(RECORD)).size;
  } catch (err) {
    if (err.code === 'ENOENT') return 0;
    throw err;
  }
}

/** Keyboard reports appended to the record file since byte `offset`. */
function keyboardReportsSince(offset) {
  return reportsSince(offset, 'keyboard');
}

/** Reports of `device` (keyboard, mouse_abs, mouse_rel) appended since byte `offset`. */
async function reportsSince(offset, device) {
  let text;
  try {
    text = await fs.readFile(RECORD, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  const out = [];
  for (const line of text.slice(offset).split('\n')) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line);
      if (rec.device === device) out.push(String(rec.report).toLowerCase());
    } catch (_) {
      // a half-written last line: read it next time
    }
  }
  return out;
}

/** Index in `xs` where `seq` occurs as a contiguous run, or -1. */
function indexOfRun(xs, seq) {
  for (let i = 0; i + seq.length <= xs.length; i++) {
    if (seq.every((v, k) => xs[i + k] === v)) return i;
  }
  return -1;
}

/** Signed byte `i` of a hex report. */
function reportByte(hex, i) {
  const b = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return b > 127 ? b - 256 : b;
}

// ===== frontend from disk (PERISCOPE_E2E_FRONTEND) =====

const CONTENT_TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
};

/** Serves the UI's static files from `dir` instead of the server (API calls still go through). */
async function serveFrontendFrom(context, dir) {
  await context.route(`${BASE}/**`, async (route) => {
    const { pathname } = new URL(route.request().url());
    const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
    const file = path.resolve(dir, rel);
    const type = CONTENT_TYPES[path.extname(file)];
    if (!type || !file.startsWith(path.resolve(dir))) return route.continue();
    try {
      await route.fulfill({ status: 200, contentType: type, body: await fs.readFile(file) });
    } catch (_) {
      await route.continue();
    }
  });
}

// ===== checks =====

async function checkLogin(page) {
  await page.goto(`${BASE}/`);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });
  await page.fill('#password', `${PASSWORD}-wrong`);
  await page.click('#login-submit');
  await page.waitForSelector('#login-error', { state: 'visible', timeout: 5_000 });
  const wrong = (await page.textContent('#login-error')).trim();
  assert(wrong === 'wrong user or password', `after a wrong password the form says "${wrong}"`);
  await page.fill('#password', PASSWORD);
  await page.click('#login-submit');
  const ok = await poll(async () => page.isVisible('#viewer'), 10_000);
  if (!ok) {
    const err = (await page.isVisible('#login-error')) ? await page.textContent('#login-error') : '';
    throw new Error(`viewer not shown after the right password${err ? ` (form says "${err}")` : ''}`);
  }
  const cookies = await page.context().cookies(BASE);
  assert(cookies.length > 0, 'no session cookie set');
  const httpOnly = cookies.some((c) => c.httpOnly);
  return `"wrong user or password" shown, then signed in (session cookie${httpOnly ? ', HttpOnly' : ' NOT HttpOnly'})`;
}

/** Signs in through the API if the form did not (so later checks still run). */
async function ensureLoggedIn(context) {
  const res = await context.request.get(`${BASE}/api/state`);
  if (res.status() === 200) return;
  await context.request.post(`${BASE}/api/auth/login`, {
    data: { user: 'admin', password: PASSWORD },
  });
}

async function checkVideo(page) {
  if (!(await page.isVisible('#viewer'))) await page.goto(`${BASE}/`);
  const up = await poll(async () => {
    const p = await probe(page);
    return p && (p.fallback || p.videoWidth > 0) ? p : null;
  }, VIDEO_TIMEOUT_MS, 200);
  assert(up, `no video within ${VIDEO_TIMEOUT_MS / 1000} s`);
  assert(!up.fallback, `the page fell back to MJPEG (connection ${up.connection})`);
  const f0 = up.frames;
  const { delta, frames, probe: p } = await stripAdvances(page);
  assert(p.frames > f0, `window.periscope.frames did not advance (${f0} → ${p.frames})`);
  const ms = (xs) => {
    const m = median(xs.filter((x) => typeof x === 'number'));
    return m === null ? '?' : Math.round(m);
  };
  const receive = ms(p.latencies.map((l) => l.receive));
  const display = ms(p.latencies.map((l) => l.display));
  return (
    `${p.videoWidth}x${p.videoHeight}, ${frames} frames in 2 s, strip counter +${delta}, ` +
    `latency median receive ${receive} ms / display ${display} ms, codec ${p.state?.codec ?? '?'}`
  );
}

async function checkKey(page) {
  assert(RECORD, 'PERISCOPE_RECORD is not set');
  const open = await poll(async () => (await probe(page))?.channel === 'open', 10_000);
  assert(open, 'the hid data channel never opened');
  const offset = await recordSize();
  await page.click('#screen');
  const captured = await poll(
    () => page.evaluate(() => document.getElementById('screen').classList.contains('captured')),
    2000,
  );
  assert(captured, 'clicking the screen did not capture input');
  await page.keyboard.press('KeyA');
  let reports = [];
  const ok = await poll(async () => {
    reports = await keyboardReportsSince(offset);
    const down = reports.indexOf(REPORT_KEY_A);
    return down >= 0 && reports.indexOf(REPORT_NONE, down + 1) > down;
  }, HID_TIMEOUT_MS, 100);
  assert(ok, `no KeyA press + release in ${RECORD} within 5 s; keyboard reports: [${reports.join(', ')}]`);
  return `press ${REPORT_KEY_A} then release ${REPORT_NONE} recorded`;
}

// ----- input UI: special keys, paste, LEDs, wheel, relative mouse, fullscreen, view only -----

const isCaptured = (page) => page.evaluate(() => document.getElementById('screen').classList.contains('captured'));
const hint = (page) => page.textContent('#capture-hint');
const pageField = (page, name) => page.evaluate((n) => window.periscope[n], name);

async function channelOpen(page) {
  const open = await poll(async () => (await probe(page))?.channel === 'open', 10_000);
  assert(open, 'the hid data channel never opened');
}

/** Closes the header menus and ends any capture, so the next check starts from a known state. */
async function uncapture(page) {
  await page.evaluate(() => {
    document.querySelectorAll('details.menu').forEach((d) => (d.open = false));
    if (document.pointerLockElement) document.exitPointerLock(); // a locked pointer clicks nothing else
  });
  await poll(async () => !(await page.evaluate(() => document.pointerLockElement)), 1000, 50);
  if (await page.isVisible('#release')) await page.click('#release');
  assert(!(await isCaptured(page)), 'input is still captured after Release');
}

/** Clicks the middle of the screen and waits until input is captured; returns the centre. */
async function captureAtCentre(page) {
  const box = await page.locator('#screen').boundingBox();
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  await page.mouse.move(at.x, at.y);
  await page.mouse.click(at.x, at.y);
  assert(await poll(() => isCaptured(page), 2000), 'clicking the screen did not capture input');
  return at;
}

async function checkSpecialKeys(page) {
  await channelOpen(page);
  await uncapture(page);
  const offset = await recordSize();
  await page.click('#keys-menu summary');
  await page.click('[data-combo="ctrl-alt-del"]');
  let reports = [];
  const ok = await poll(async () => {
    reports = await keyboardReportsSince(offset);
    return indexOfRun(reports, REPORTS_CTRL_ALT_DEL) >= 0;
  }, HID_TIMEOUT_MS);
  assert(ok, `no Ctrl+Alt+Del sequence [${REPORTS_CTRL_ALT_DEL.join(', ')}]; got [${reports.join(', ')}]`);
  const open = await page.evaluate(() => document.getElementById('keys-menu').open);
  assert(!open, 'the keys menu stayed open after choosing an entry');
  return `reports ${REPORTS_CTRL_ALT_DEL.join(' → ')}`;
}

async function checkPaste(page) {
  await channelOpen(page);
  await uncapture(page);
  const state = (await probe(page)).state ?? {};
  await page.click('#paste-menu summary');
  const layout = await page.inputValue('#paste-layout');
  const expected = state.keyboard_layout || 'us';
  assert(layout === expected, `the layout select starts at "${layout}", not the server's "${expected}"`);
  await page.selectOption('#paste-layout', 'us');
  await page.fill('#paste-text', 'Hi');
  let offset = await recordSize();
  await page.click('#paste-send');
  let reports = [];
  const typed = await poll(async () => {
    reports = await keyboardReportsSince(offset);
    const h = reports.indexOf(REPORT_SHIFT_H);
    const i = reports.indexOf(REPORT_I, h + 1);
    return h >= 0 && i > h && reports.indexOf(REPORT_NONE, i + 1) > i;
  }, HID_TIMEOUT_MS);
  assert(typed, `"Hi" did not arrive as ${REPORT_SHIFT_H} … ${REPORT_I} … release; got [${reports.join(', ')}]`);

  await page.fill('#paste-text', 'é');
  offset = await recordSize();
  await page.click('#paste-send');
  const shown = await poll(async () => {
    if (!(await page.isVisible('#paste-message'))) return null;
    const text = await page.textContent('#paste-message');
    return /cannot type/.test(text) && text.includes('é') ? text : null;
  }, HID_TIMEOUT_MS);
  const last = (await page.isVisible('#paste-message')) ? await page.textContent('#paste-message') : '(hidden)';
  assert(shown, `no "cannot type" error next to the paste box; it says "${last}"`);
  assert(await page.evaluate(() => document.getElementById('paste-message').classList.contains('error')),
    'the paste error is not styled as an error');
  const strays = (await keyboardReportsSince(offset)).filter((r) => r !== REPORT_NONE);
  assert(strays.length === 0, `the refused text still typed: [${strays.join(', ')}]`);
  await page.click('#paste-menu summary'); // close it
  return `layout select started at "${layout}"; "Hi" typed as ${REPORT_SHIFT_H}, ${REPORT_I}; "é" → "${shown.trim()}"`;
}

async function checkLeds(page) {
  await channelOpen(page);
  const file = `${RECORD}.leds`;
  const leds = () =>
    page.evaluate(() => ['caps', 'num', 'scroll'].map((n) => document.getElementById(`led-${n}`).classList.contains('on')).join(','));
  const t0 = Date.now();
  await fs.writeFile(file, 'caps');
  const lit = await poll(async () => (await leds()) === 'true,false,false', LED_TIMEOUT_MS, 50);
  const ms = Date.now() - t0;
  assert(lit, `Caps not lit alone within ${LED_TIMEOUT_MS} ms of writing "caps" (LEDs: ${await leds()})`);
  await fs.writeFile(file, 'num scroll');
  assert(await poll(async () => (await leds()) === 'false,true,true', LED_TIMEOUT_MS, 50),
    `"num scroll" not shown (LEDs: ${await leds()})`);
  await fs.writeFile(file, '');
  assert(await poll(async () => (await leds()) === 'false,false,false', LED_TIMEOUT_MS, 50),
    `all-off not shown (LEDs: ${await leds()})`);
  return `Caps lit ${ms} ms after writing "caps"; "num scroll" and "" followed`;
}

async function checkWheel(page) {
  await channelOpen(page);
  await uncapture(page);
  await captureAtCentre(page);
  const offset = await recordSize();
  await page.mouse.wheel(0, 100); // one notch down → dy -1
  await sleep(400); // a new gesture
  await page.mouse.wheel(0, -100); // one notch up → dy +1
  let reports = [];
  const ok = await poll(async () => {
    reports = await reportsSince(offset, 'mouse_abs');
    const down = reports.findIndex((r) => reportByte(r, 5) === -1);
    return down >= 0 && reports.slice(down + 1).some((r) => reportByte(r, 5) === 1);
  }, HID_TIMEOUT_MS);
  assert(ok, `no mouse_abs reports with wheel byte ff then 01; got [${reports.join(', ')}]`);
  await uncapture(page);
  return 'wheel down → mouse_abs wheel byte ff, up → 01';
}

async function checkRelativeMouse(page) {
  await channelOpen(page);
  await uncapture(page);
  await page.click('#mouse-mode');
  assert((await pageField(page, 'mouseMode')) === 'relative', 'the mouse-mode button did not switch to relative');
  const label = (await page.textContent('#mouse-mode')).trim();
  assert(label === 'Mouse: relative', `the mouse-mode button says "${label}"`);
  try {
    const at = await captureAtCentre(page);
    // Headless Chromium grants Pointer Lock to a click (Playwright's mouse is a user gesture).
    const lock = await poll(() => pageField(page, 'pointerLock'), 2000);
    assert(lock === 'locked' || lock === 'refused', `pointer lock state is ${lock}`);
    const locked = await page.evaluate(() => document.pointerLockElement?.id ?? null);
    assert(lock === 'locked' || ALLOW_NO_POINTER_LOCK, `pointer lock was ${lock} (PERISCOPE_E2E_NO_POINTER_LOCK=1 accepts that)`);
    if (lock === 'locked') {
      assert(locked === 'screen', `pointerLock says locked but pointerLockElement is ${locked}`);
      assert(/pointer locked/.test(await hint(page)), `hint while locked: "${await hint(page)}"`);
    }
    await sleep(100);
    const offset = await recordSize();
    await page.mouse.move(at.x + 30, at.y + 10, { steps: 3 });
    await sleep(150);
    await page.mouse.move(at.x + 430, at.y + 10); // 400 px in one event: split into ±127 steps
    await sleep(150);
    await page.mouse.wheel(0, 100);
    let reports = [];
    const sum = (i) => reports.reduce((a, r) => a + reportByte(r, i), 0);
    const ok = await poll(async () => {
      reports = await reportsSince(offset, 'mouse_rel');
      return sum(1) >= 430 && reports.some((r) => reportByte(r, 3) === -1);
    }, HID_TIMEOUT_MS);
    assert(ok, `mouse_rel reports sum dx ${sum(1)} (want 430) / no wheel; got [${reports.join(', ')}]`);
    assert(sum(1) === 430 && sum(2) === 10, `mouse_rel sums to (${sum(1)}, ${sum(2)}), not (430, 10)`);
    const big = Math.max(...reports.map((r) => Math.abs(reportByte(r, 1))));
    assert(big <= 127, `a mouse_rel report moved ${big} > 127`);
    const split = reports.filter((r) => reportByte(r, 1) === 100).length;
    assert(split >= 4, `the 400 px move was not split into 4 × 100 (reports: [${reports.join(', ')}])`);

    let ended;
    if (lock === 'locked') {
      await page.evaluate(() => document.exitPointerLock()); // what Esc does
      ended = await poll(async () => !(await isCaptured(page)) && (await pageField(page, 'pointerLock')) === 'released', 2000);
      assert(ended, 'leaving pointer lock did not end the capture');
    } else {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Escape');
      ended = await poll(async () => !(await isCaptured(page)), 2000);
      assert(ended, 'Esc Esc did not end the relative capture');
    }
    return (
      `pointer lock ${lock === 'locked' ? 'obtained' : 'REFUSED (moves read without it)'}; ` +
      `${reports.length} mouse_rel reports summing (430, 10), 400 px split into ${split} × 100, wheel byte ff; ` +
      `${lock === 'locked' ? 'exiting the lock' : 'Esc Esc'} released the capture`
    );
  } finally {
    if ((await pageField(page, 'mouseMode')) === 'relative') {
      await uncapture(page).catch(() => {});
      await page.click('#mouse-mode');
    }
  }
}

async function checkFullscreen(page) {
  await channelOpen(page);
  await uncapture(page);
  assert(await page.isVisible('#fullscreen'), 'no Fullscreen button');
  // Count the page's Keyboard Lock calls (the lock itself has no state a page can read).
  await page.evaluate(() => {
    const kb = navigator.keyboard;
    window.__keyboardLockCalls = [];
    if (!kb?.lock) return;
    const { lock, unlock } = kb;
    kb.lock = (...a) => (window.__keyboardLockCalls.push('lock'), lock.apply(kb, a));
    kb.unlock = (...a) => (window.__keyboardLockCalls.push('unlock'), unlock.apply(kb, a));
  });
  await page.click('#fullscreen');
  const on = await poll(async () => (await pageField(page, 'fullscreen')).active, 3000);
  assert(on, 'the Fullscreen button did not make the screen fullscreen');
  const fs1 = await pageField(page, 'fullscreen');
  const element = await page.evaluate(() => document.fullscreenElement?.id ?? null);
  assert(element === 'screen', `fullscreen element is ${element}`);
  const hasLock = await page.evaluate(() => typeof navigator.keyboard?.lock === 'function');
  assert(fs1.keyboardLocked === hasLock, `keyboardLocked ${fs1.keyboardLocked} with navigator.keyboard.lock ${hasLock}`);
  const lockCalls = () => page.evaluate(() => window.__keyboardLockCalls.join(','));
  if (hasLock) assert((await lockCalls()) === 'lock', `Keyboard Lock calls on entering: "${await lockCalls()}"`);
  assert(await isCaptured(page), 'entering fullscreen did not capture input');
  const text = await hint(page);
  await page.evaluate(() => document.exitFullscreen());
  const off = await poll(async () => !(await pageField(page, 'fullscreen')).active, 3000);
  assert(off, 'leaving fullscreen was not noticed');
  assert(!(await pageField(page, 'fullscreen')).keyboardLocked, 'the keyboard stayed locked after fullscreen');
  if (hasLock) assert((await lockCalls()) === 'lock,unlock', `Keyboard Lock calls after leaving: "${await lockCalls()}"`);
  await uncapture(page);
  return `fullscreen on #screen, navigator.keyboard ${hasLock ? 'lock() then unlock() on exit' : 'not offered by this browser'} ("${text}")`;
}

/** The Stats button shows the overlay: server stages from /metrics with numbers in ms, and
 * the page's own arrival latency from the strip; clicking again hides it. */
async function checkStats(page) {
  await uncapture(page);
  await page.click('#stats-toggle');
  const rows = async () =>
    page.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll('#stats tr')].map((tr) => [...tr.cells].map((c) => c.textContent))),
    );
  const ready = await poll(async () => {
    const r = await rows();
    return /^\d+\.\d ms$/.test(r['capture → encoded'] ?? '') && /^\d+ ms$/.test(r['reaches page'] ?? '') &&
      /^\d+\.\d$/.test(r['frames/s encoded'] ?? '') && Number(r['frames/s encoded']) > 0
      ? r
      : null;
  }, 8000, 250);
  assert(ready, `stats overlay rows: ${JSON.stringify(await rows())}`);
  assert((await page.getAttribute('#stats-toggle', 'aria-pressed')) === 'true', 'Stats button not pressed');
  await page.click('#stats-toggle');
  assert(await page.isHidden('#stats'), 'the overlay stays after the second click');
  return `capture → encoded ${ready['capture → encoded']}, encoded → sent ${ready['encoded → sent']}, reaches page ${ready['reaches page']}, ${ready['frames/s encoded']} frames/s encoded`;
}

// ----- the Power menu (front panel, buttons, Wake-on-LAN) against devices.toml -----

/** A file the front panel's commands write, or null while it does not exist. */
async function deviceFile(name) {
  try {
    return await fs.readFile(path.join(DEVICES_DIR, name), 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
}

/** The server's audit entries (GET /api/audit with the admin session of `context`). */
async function auditEntries(context) {
  const res = await context.request.get(`${BASE}/api/audit`);
  assert(res.status() === 200, `GET /api/audit answered ${res.status()}`);
  return (await res.json()).entries ?? [];
}

/** Opens the Power menu (once it is shown). */
async function openPowerMenu(page) {
  assert(await poll(() => page.isVisible('#power-menu'), 6000), 'no Power menu in the header');
  if (!(await page.evaluate(() => document.getElementById('power-menu').open))) await page.click('#power-menu summary');
  assert(await poll(() => page.evaluate(() => document.getElementById('power-menu').open), 1000), 'the Power menu did not open');
}

const powerMessage = (page) =>
  page.evaluate(() => {
    const m = document.getElementById('power-message');
    return m.hidden ? '' : m.textContent.trim();
  });
const powerMessageIsError = (page) => page.evaluate(() => document.getElementById('power-message').classList.contains('error'));
const dialogOpen = (page) => page.evaluate(() => document.getElementById('power-dialog').open);

/** Waits for the confirmation dialog; returns its title. */
async function dialogTitle(page) {
  assert(await poll(() => dialogOpen(page), 2000), 'no confirmation dialog');
  assert(await page.isVisible('#power-dialog-confirm') && await page.isVisible('#power-dialog-cancel'), 'the dialog lacks Confirm/Cancel');
  return (await page.textContent('#power-dialog-title')).trim();
}

/** Waits until the Power menu's message matches `re`; returns it. */
async function powerMessageMatching(page, re, timeoutMs = POWER_TIMEOUT_MS) {
  const text = await poll(async () => {
    const t = await powerMessage(page);
    return re.test(t) ? t : null;
  }, timeoutMs);
  assert(text, `the Power menu says "${await powerMessage(page)}", not ${re}`);
  return text;
}

/** A page signed in as `viewer` (through the API) that watches the Power menu. */
async function viewerPage(browser) {
  assert(VIEWER_PASSWORD, 'PERISCOPE_VIEWER_PASSWORD is not set');
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  if (process.env.PERISCOPE_E2E_FRONTEND) await serveFrontendFrom(context, process.env.PERISCOPE_E2E_FRONTEND);
  const res = await context.request.post(`${BASE}/api/auth/login`, { data: { user: 'viewer', password: VIEWER_PASSWORD } });
  assert(res.status() === 200, `viewer login answered ${res.status()}`);
  const page = watchPage(await context.newPage(), 'power viewer');
  await page.goto(`${BASE}/`);
  assert(await poll(() => page.isVisible('#viewer'), 10_000), 'the viewer page did not open');
  return { context, page };
}

/**
 * A button with `confirm = true` (a `cmd` that works 3 s, then writes a marker file): Cancel
 * sends nothing; Confirm sends the press, the page shows it busy, a viewer's page sees it busy
 * on the server by polling and then idle again, the result line says what the command printed,
 * the marker file is there and the audit has the entry.
 */
async function checkPowerConfirmButton(page, viewer) {
  assert(DEVICES_DIR, 'PERISCOPE_DEVICES_DIR is not set (run.sh sets it and starts the server with devices.toml)');
  await uncapture(page);
  await openPowerMenu(page);
  await openPowerMenu(viewer);
  const row = '[data-button="maintenance"]';
  assert(await page.isVisible(`${row} button`), 'no "Maintenance script" button in the Power menu');
  const label = (await page.textContent(`${row} button`)).trim();
  assert(label.startsWith('Maintenance script'), `the button says "${label}"`);

  await page.click(`${row} button`);
  let title = await dialogTitle(page);
  assert(title === 'Maintenance script?', `the dialog's title is "${title}"`);
  const focused = await page.evaluate(() => document.activeElement?.id);
  assert(focused === 'power-dialog-cancel', `focus in the dialog is on ${focused}, not Cancel`);
  await page.click('#power-dialog-cancel');
  assert(await poll(async () => !(await dialogOpen(page)), 1000), 'Cancel did not close the dialog');
  await powerMessageMatching(page, /cancelled/, 1000);
  await sleep(300);
  assert((await deviceFile('maintenance')) === null, 'Cancel still ran the command');
  const before = (await auditEntries(page.context())).filter((e) => e.what.startsWith('button maintenance'));
  assert(before.length === 0, `Cancel left audit entries: ${JSON.stringify(before)}`);

  await page.click(`${row} button`);
  title = await dialogTitle(page);
  await page.click('#power-dialog-confirm');
  assert(await poll(async () => !(await dialogOpen(page)), 1000), 'Confirm did not close the dialog');
  const busyHere = await poll(() => page.getAttribute(row, 'data-busy').then((b) => b === 'true'), 1000, 50);
  assert(busyHere, 'the pressed button does not show busy');
  assert(await page.isDisabled(`${row} button`), 'the button stays enabled while its press runs');
  // The viewer's page learns it only from GET /api/gpio polling: the live state.
  const vrow = viewer.locator(row);
  const seenBusy = await poll(async () => (await vrow.getAttribute('data-busy')) === 'true' && (await viewer.isVisible(`${row} .power-busy`)), 3500, 100);
  assert(seenBusy, `the viewer's page never showed the button busy (the admin's menu says "${await powerMessage(page)}")`);
  const text = await powerMessageMatching(page, /^Maintenance script: done \(exit 0\) — maintenance done$/);
  assert(!(await powerMessageIsError(page)), 'the success is styled as an error');
  const marker = await deviceFile('maintenance');
  assert(marker?.trim() === 'pressed', `the command's marker file holds ${JSON.stringify(marker)}`);
  const idle = await poll(async () => (await vrow.getAttribute('data-busy')) === 'false', 3500, 100);
  assert(idle, "the viewer's page still shows the button busy");
  const entries = (await auditEntries(page.context())).filter((e) => e.what.startsWith('button maintenance'));
  assert(entries.length === 1, `audit entries for the button: ${JSON.stringify(entries)}`);
  const [e] = entries;
  assert(e.what === 'button maintenance pulse' && e.result === 'exit 0' && e.who.startsWith('admin@'),
    `audit entry ${JSON.stringify(e)}`);
  return `dialog "${title}" (Cancel sent nothing), Confirm → busy here and (by polling) in a viewer's page, then "${text}"; marker file written; audit "${e.who} ${e.what}: ${e.result}"`;
}

/**
 * The ATX buttons (each asks first), the API's error text in the menu (a 429: the front panel
 * was pressed through the API just before), a switch (no dialog; on and off run their
 * commands) and Wake-on-LAN (the magic packet arrives on PERISCOPE_WOL_PORT).
 */
async function checkPowerAtxSwitchWol(page) {
  assert(DEVICES_DIR, 'PERISCOPE_DEVICES_DIR is not set (run.sh sets it and starts the server with devices.toml)');
  assert(WOL_PORT > 0, 'PERISCOPE_WOL_PORT is not set');
  await uncapture(page);
  await openPowerMenu(page);
  const led = (await page.textContent('#power-led')).trim();
  assert(led === 'unknown', `the power LED (none configured) shows "${led}"`);
  for (const id of ['power', 'power_long', 'reset']) {
    assert(await page.isEnabled(`[data-atx="${id}"]`), `ATX button ${id} missing or disabled`);
  }

  // Force off: Esc cancels.
  await page.click('[data-atx="power_long"]');
  const forceTitle = await dialogTitle(page);
  assert(forceTitle === 'Force off?', `the dialog's title is "${forceTitle}"`);
  await page.keyboard.press('Escape');
  assert(await poll(async () => !(await dialogOpen(page)), 1000), 'Esc did not close the dialog');

  // Reset, confirmed right after a press through the API: 429, shown in the menu.
  await page.click('[data-atx="reset"]');
  assert((await dialogTitle(page)) === 'Reset?', 'no "Reset?" dialog');
  const api = await page.context().request.post(`${BASE}/api/atx/power`);
  assert(api.status() === 200, `POST /api/atx/power answered ${api.status()}`);
  await page.click('#power-dialog-confirm');
  const tooSoon = await powerMessageMatching(page, /^Reset: .*at most one action per/, 3000);
  assert(await powerMessageIsError(page), 'the 429 is not styled as an error');
  assert((await deviceFile('atx-reset')) === null, 'the refused reset still ran');

  // Power through the menu, once the second has passed.
  await sleep(1100);
  await page.click('[data-atx="power"]');
  assert((await dialogTitle(page)) === 'Power?', 'no "Power?" dialog');
  await page.click('#power-dialog-confirm');
  const powered = await powerMessageMatching(page, /^Power: done/, 3000);
  const presses = (await deviceFile('atx-power'))?.trim().split('\n') ?? [];
  assert(presses.length === 2, `atx-power has ${presses.length} presses, not 2 (API + menu)`);

  // The switch: no dialog; on, then off (after the 1 s per target).
  const lamp = '[data-button="lamp"]';
  const state = (await page.textContent(`${lamp} .power-state`)).trim();
  assert(state === 'unknown', `the switch (a command: no read-back) shows "${state}"`);
  await page.click(`${lamp} [data-action="on"]`);
  assert(!(await dialogOpen(page)), 'a switch without confirm asked first');
  await powerMessageMatching(page, /^Rack lamp: on: done \(exit 0\)$/, 3000);
  assert((await deviceFile('lamp'))?.trim() === 'on', `lamp file: ${JSON.stringify(await deviceFile('lamp'))}`);
  await sleep(1100);
  await page.click(`${lamp} [data-action="off"]`);
  await powerMessageMatching(page, /^Rack lamp: off: done \(exit 0\)$/, 3000);
  assert((await deviceFile('lamp'))?.trim() === 'off', `lamp file: ${JSON.stringify(await deviceFile('lamp'))}`);

  // Wake-on-LAN: asks first, then the magic packet arrives.
  const socket = dgram.createSocket('udp4');
  const packets = [];
  socket.on('message', (m) => packets.push(m));
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(WOL_PORT, '127.0.0.1', resolve);
  });
  try {
    await page.click('#power-wol-send');
    assert((await dialogTitle(page)) === 'Wake-on-LAN?', 'no "Wake-on-LAN?" dialog');
    await page.click('#power-dialog-confirm');
    await powerMessageMatching(page, /^Wake-on-LAN: done$/, 3000);
    assert(await poll(async () => packets.length > 0, 2000), `no packet on 127.0.0.1:${WOL_PORT}`);
  } finally {
    socket.close();
  }
  const hex = packets[0].toString('hex');
  assert(hex === 'ff'.repeat(6) + WOL_MAC.repeat(16), `the packet is not the magic packet for ${WOL_MAC}: ${hex}`);

  const audit = await auditEntries(page.context());
  const has = (what, result) => audit.some((e) => e.what === what && result.test(e.result));
  assert(has('atx reset', /at most one action/), 'no audit entry for the refused reset');
  assert(has('atx power', /^exit 0$/), 'no audit entry for the power press');
  assert(has('button lamp on', /^exit 0$/) && has('button lamp off', /^exit 0$/), 'no audit entries for the switch');
  assert(has('wol 02:00:5e:10:20:30', /^ok$/), 'no audit entry for Wake-on-LAN');
  await uncapture(page);
  return `LED "unknown"; Esc cancels "${forceTitle}"; "${tooSoon}" (error style); "${powered}"; switch on/off ran; magic packet received; audit has all five`;
}

/** A viewer sees the Power menu's state with every control disabled. */
async function checkPowerViewOnly(viewer) {
  await openPowerMenu(viewer);
  assert(await viewer.isVisible('#power-view-only'), 'no "view only" note in the Power menu');
  const led = (await viewer.textContent('#power-led')).trim();
  assert(led === 'unknown', `the viewer's power LED shows "${led}"`);
  const controls = await viewer.evaluate(() =>
    [...document.querySelectorAll('#power-menu button')].filter((b) => !b.hidden).map((b) => [b.textContent.trim(), b.disabled]),
  );
  assert(controls.length >= 7, `the viewer sees ${controls.length} controls: ${JSON.stringify(controls)}`);
  const enabled = controls.filter(([, disabled]) => !disabled);
  assert(enabled.length === 0, `enabled for a viewer: ${enabled.map(([t]) => t).join(', ')}`);
  const res = await viewer.context().request.post(`${BASE}/api/atx/power`);
  assert(res.status() === 403, `a viewer's POST /api/atx/power answered ${res.status()}`);
  return `${controls.length} controls shown, all disabled, "view only" note; the API refuses the viewer (403)`;
}

// ===== media menu =====

/** Opens the Media menu (once it is shown). */
async function openMediaMenu(page) {
  assert(await poll(() => page.isVisible('#media-menu'), 6000), 'no Media menu in the header');
  if (!(await page.evaluate(() => document.getElementById('media-menu').open))) await page.click('#media-summary');
  assert(await poll(() => page.evaluate(() => document.getElementById('media-menu').open), 1000), 'the Media menu did not open');
}

const mediaMessage = (page) =>
  page.evaluate(() => {
    const m = document.getElementById('media-message');
    return m.hidden ? '' : m.textContent.trim();
  });
const mediaMessageIsError = (page) => page.evaluate(() => document.getElementById('media-message').classList.contains('error'));

/** Waits until the Media menu's message matches `re`; returns it. */
async function mediaMessageMatching(page, re, timeoutMs = MEDIA_TIMEOUT_MS) {
  const text = await poll(async () => {
    const t = await mediaMessage(page);
    return re.test(t) ? t : null;
  }, timeoutMs);
  assert(text, `the Media menu says "${await mediaMessage(page)}", not ${re}`);
  return text;
}

/** GET /api/msd with the session of `context`. */
async function msdStatus(context) {
  const res = await context.request.get(`${BASE}/api/msd`);
  assert(res.status() === 200, `GET /api/msd answered ${res.status()}`);
  return res.json();
}

const sha256Hex = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

/**
 * Uploads a generated 300 KiB file through the file input: the name made from the file's,
 * the progress bar full, the image listed with the SHA-256 computed here; attaching answers
 * the server's 404 (no mass-storage function in the browser run) shown as an error; Delete
 * asks first and the image is gone.
 */
async function checkMediaUpload(page) {
  await uncapture(page);
  await openMediaMenu(page);
  const bytes = crypto.randomBytes(300 * 1024);
  const sha = sha256Hex(bytes);
  const name = 'e2e_upload__300k_.img';
  await page.setInputFiles('#media-file', { name: 'e2e upload (300k).img', mimeType: 'application/octet-stream', buffer: bytes });
  assert(await poll(() => page.isEnabled('#media-upload'), 1000), 'the Upload button stays disabled with a file chosen');
  await page.click('#media-upload');
  const done = await poll(() => page.evaluate(() => window.periscope.media.progress?.done === true), MEDIA_TIMEOUT_MS, 50);
  assert(done, `the upload did not complete: ${JSON.stringify(await page.evaluate(() => window.periscope.media.progress))}, "${await mediaMessage(page)}"`);
  const bar = await page.evaluate(() => {
    const p = document.getElementById('media-progress');
    return { hidden: p.hidden, value: p.value, max: p.max, text: document.getElementById('media-progress-text').textContent };
  });
  assert(!bar.hidden && bar.max === bytes.length && bar.value === bar.max, `the progress bar: ${JSON.stringify(bar)}`);
  assert(/100% uploaded/.test(bar.text), `the progress text says "${bar.text}"`);
  const progress = await page.evaluate(() => window.periscope.media.progress);
  // `reported`: the most xhr.upload.onprogress said was sent; the bar followed it to the end.
  assert(progress.name === name && progress.loaded === bytes.length && progress.reported === bytes.length, `progress ${JSON.stringify(progress)}`);
  const text = await mediaMessageMatching(page, new RegExp(`^${name.replace(/\./g, '\\.')}: uploaded, 300 KiB, SHA-256 ${sha}$`));
  const row = `#media-list [data-image="${name}"]`;
  assert(await poll(() => page.isVisible(row), 3000), `no row for ${name} in the list`);
  const shown = await page.evaluate((sel) => {
    const r = document.querySelector(sel);
    const h = r.querySelector('.media-sha');
    return { short: h.textContent.trim(), full: h.dataset.sha256, title: h.title, size: r.querySelector('.media-size').textContent.trim() };
  }, row);
  assert(shown.short === sha.slice(0, 16) && shown.full === sha && shown.title.includes(sha), `the row shows ${JSON.stringify(shown)}, not ${sha}`);
  assert(shown.size === '300 KiB', `the row's size is "${shown.size}"`);
  const listed = (await msdStatus(page.context())).images.find((i) => i.name === name);
  assert(listed?.sha256 === sha && listed.size === bytes.length, `GET /api/msd lists ${JSON.stringify(listed)}`);

  // No gadget in the browser run: the server's 404 text, as an error; the note says why.
  assert(await page.isVisible('#media-note'), 'no note that attaching needs a mass-storage function');
  await page.click(`${row} button[data-action="cdrom"]`);
  const attach = await mediaMessageMatching(page, /^Attach .* as CD-ROM: no USB mass-storage function/);
  assert(await mediaMessageIsError(page), 'the 404 is not styled as an error');

  await page.click(`${row} button[data-action="delete"]`);
  const title = await dialogTitle(page);
  assert(title === `Delete ${name}?`, `the dialog's title is "${title}"`);
  await page.click('#power-dialog-confirm');
  assert(await poll(async () => !(await dialogOpen(page)), 1000), 'Confirm did not close the dialog');
  await mediaMessageMatching(page, new RegExp(`^Delete ${name.replace(/\./g, '\\.')}: done$`));
  assert(await poll(async () => !(await page.isVisible(row)), 3000), 'the deleted image is still listed');
  const after = (await msdStatus(page.context())).images.map((i) => i.name);
  assert(!after.includes(name), `GET /api/msd still lists it: ${after}`);
  return `"${text.slice(0, 60)}…", bar ${bar.value}/${bar.max}, row ${shown.short} (full in the title); "${attach}"; deleted after "${title}"`;
}

/** A 2 MiB file against `--media-max-mb 1`: refused in the page, nothing sent; the API's own 413. */
async function checkMediaTooLarge(page) {
  await openMediaMenu(page);
  const status = await msdStatus(page.context());
  assert(status.max_bytes === MEDIA_MAX_BYTES, `max_bytes is ${status.max_bytes}, not ${MEDIA_MAX_BYTES} (run.sh starts the server with --media-max-mb 1)`);
  const limit = (await page.textContent('#media-limit')).trim();
  assert(limit === 'at most 1 MiB', `the menu shows the limit as "${limit}"`);
  const puts = [];
  const onRequest = (r) => {
    if (r.method() === 'PUT') puts.push(r.url());
  };
  page.on('request', onRequest);
  const bytes = crypto.randomBytes(2 << 20);
  try {
    await page.setInputFiles('#media-file', { name: 'big.img', mimeType: 'application/octet-stream', buffer: bytes });
    await page.click('#media-upload');
    const text = await mediaMessageMatching(page, /^Upload: big\.img is 2 MiB: over the limit of 1 MiB \(1048576 bytes\)$/, 2000);
    assert(await mediaMessageIsError(page), 'the refusal is not styled as an error');
    await sleep(300);
    assert(puts.length === 0, `the page still sent ${puts.join(', ')}`);
    const server = await page.evaluate(async (n) => {
      const res = await fetch('/api/msd/images/big-direct.img', { method: 'PUT', body: new Uint8Array(n), credentials: 'same-origin' });
      return { status: res.status, body: await res.json().catch(() => null) };
    }, bytes.length);
    assert(server.status === 413, `a direct PUT of 2 MiB answered ${server.status} ${JSON.stringify(server.body)}`);
    assert(/over the limit of 1048576 bytes/.test(server.body?.error ?? ''), `the 413's error is ${JSON.stringify(server.body)}`);
    const names = (await msdStatus(page.context())).images.map((i) => i.name);
    assert(!names.includes('big.img') && !names.includes('big-direct.img'), `stored anyway: ${names}`);
    await page.setInputFiles('#media-file', []);
    return `"${text}" (no request sent); the server's own answer to a 2 MiB PUT: 413 "${server.body.error}"`;
  } finally {
    page.off('request', onRequest);
  }
}

/**
 * A viewer sees the images (one the admin uploads through the API while the viewer's menu is
 * open: it appears by polling), controls disabled; its PUT is 403.
 */
async function checkMediaViewOnly(page, viewer) {
  const name = 'e2e-viewer.iso';
  await openMediaMenu(viewer);
  await sleep(300); // the menu's first GET (on opening) is done: only polling can show what follows
  const put = await page.context().request.put(`${BASE}/api/msd/images/${name}`, { data: Buffer.from('viewer sees this') });
  assert(put.status() === 201, `the admin's PUT answered ${put.status()}`);
  try {
    const row = `#media-list [data-image="${name}"]`;
    assert(await poll(() => viewer.isVisible(row), 4500), "the viewer's menu does not list the admin's upload (polling)");
    assert(await viewer.isVisible('#media-view-only'), 'no "view only" note in the Media menu');
    const controls = await viewer.evaluate(() =>
      [...document.querySelectorAll('#media-menu button:not(.media-copy), #media-menu input')].filter((b) => !b.hidden).map((b) => [b.textContent.trim() || b.id, b.disabled]),
    );
    const enabled = controls.filter(([, disabled]) => !disabled);
    assert(controls.length >= 5 && enabled.length === 0, `the viewer's controls: ${JSON.stringify(controls)}`);
    const res = await viewer.context().request.put(`${BASE}/api/msd/images/x.img`, { data: Buffer.from('x') });
    assert(res.status() === 403, `a viewer's PUT answered ${res.status()}`);
    return `${controls.length} controls shown (besides Copy), all disabled, "view only" note; the API refuses the viewer (403)`;
  } finally {
    await sleep(1100); // at most one media action per second
    await page.context().request.delete(`${BASE}/api/msd/images/${name}`).catch(() => {});
  }
}

/** Opens the Stream menu on `p` and waits for the values its GET filled in. */
async function openStreamMenu(p) {
  if (!(await p.evaluate(() => document.getElementById('stream-menu').open))) await p.click('#stream-menu summary');
  assert(await poll(async () => (await p.inputValue('#stream-jpeg')) !== '', 4000), 'the Stream menu shows no settings');
}

/** The Stream menu changes the shared settings live; what the API says matches; a viewer's are disabled. */
async function checkStreamSettings(page, viewer) {
  const api = async () => (await page.context().request.get(`${BASE}/api/stream`)).json();
  const before = await api();
  await openStreamMenu(page);
  assert((await page.inputValue('#stream-h264')) === String(before.h264_kbps), 'the menu shows another bitrate than the API');
  const snapshotBytes = async () => (await (await page.context().request.get(`${BASE}/snapshot.jpg`)).body()).length;
  const at80 = await snapshotBytes();
  try {
    await page.fill('#stream-jpeg', '20');
    await page.fill('#stream-h264', '1500');
    await page.click('#stream-apply');
    const said = await poll(async () => {
      const t = await page.textContent('#stream-message');
      return t && t.startsWith('applied') ? t : null;
    }, 4000);
    assert(said === 'applied: H.264 1500 kbit/s, JPEG quality 20', `the menu says "${await page.textContent('#stream-message')}"`);
    const now = await api();
    assert(now.h264_kbps === 1500 && now.jpeg_quality === 20, `the API says ${JSON.stringify(now)}`);
    const at20 = await poll(async () => {
      const n = await snapshotBytes();
      // The desktop pattern's flat areas cost little at any quality: 20 takes ~30 % off.
      return n < at80 * 0.85 ? n : null;
    }, 3000, 200);
    assert(at20, `snapshots did not shrink at quality 20 (${at80} bytes at 80)`);
    // Out of range: said in the page, nothing sent.
    await page.fill('#stream-jpeg', '5');
    await page.click('#stream-apply');
    assert(await poll(async () => /JPEG quality must be/.test(await page.textContent('#stream-message')), 2000), 'no range error in the menu');
    assert((await api()).jpeg_quality === 20, 'an out-of-range value was sent');
    let viewerSays = 'no viewer page';
    if (viewer) {
      await openStreamMenu(viewer);
      const controls = await viewer.evaluate(() =>
        [...document.querySelectorAll('#stream-menu input, #stream-menu button')].map((c) => [c.id, c.disabled, c.value]),
      );
      assert(controls.length === 3 && controls.every(([, d]) => d), `the viewer's Stream controls: ${JSON.stringify(controls)}`);
      assert(controls[1][2] === '20', `the viewer's menu shows quality ${controls[1][2]}`);
      viewerSays = 'the viewer sees 20 with its controls disabled';
    }
    return `quality 80 → 20: snapshot ${at80} → ${at20} bytes; 1500 kbit/s in the API; quality 5 refused in the page; ${viewerSays}`;
  } finally {
    // The checks after this one read strips from JPEGs: back to what it was.
    await page.context().request.post(`${BASE}/api/stream`, {
      data: { h264_kbps: before.h264_kbps, jpeg_quality: before.jpeg_quality },
    });
    await page.evaluate(() => { document.getElementById('stream-menu').open = false; });
  }
}

/** The Jiggler toggle turns the appliance's mouse jiggler on and off (the API agrees). */
async function checkJiggler(page) {
  const api = async () => (await page.context().request.get(`${BASE}/api/hid/jiggler`)).json();
  assert(await poll(async () => (await page.textContent('#jiggler')) === 'Jiggler: off', 4000), `the toggle says "${await page.textContent('#jiggler')}"`);
  assert((await api()).enabled === false, 'the jiggler is on before any click');
  try {
    await page.click('#jiggler');
    assert(await poll(async () => (await page.textContent('#jiggler')) === 'Jiggler: on', 4000), `after a click the toggle says "${await page.textContent('#jiggler')}"`);
    const on = await api();
    assert(on.enabled === true && on.interval_s === 60, `the API says ${JSON.stringify(on)}`);
    assert((await page.getAttribute('#jiggler', 'aria-pressed')) === 'true', 'not shown pressed');
    await page.click('#jiggler');
    assert(await poll(async () => (await page.textContent('#jiggler')) === 'Jiggler: off', 4000), 'a second click did not turn it off');
    assert((await api()).enabled === false, 'the API still says on');
    return 'off → on (60 s, pressed) → off, the API agreeing each time';
  } finally {
    await page.context().request.post(`${BASE}/api/hid/jiggler`, { data: { enabled: false } }).catch(() => {});
  }
}

/** Signed in as `viewer` through the form: "view only", no controls, no capture, nothing typed. */
async function checkViewOnly(browser) {
  assert(VIEWER_PASSWORD, 'PERISCOPE_VIEWER_PASSWORD is not set');
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  if (process.env.PERISCOPE_E2E_FRONTEND) await serveFrontendFrom(context, process.env.PERISCOPE_E2E_FRONTEND);
  try {
    const page = watchPage(await context.newPage(), 'viewer');
    await page.goto(`${BASE}/`);
    await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });
    await page.fill('#user', 'viewer');
    await page.fill('#password', VIEWER_PASSWORD);
    await page.click('#login-submit');
    assert(await poll(() => page.isVisible('#viewer'), 10_000), 'the viewer could not sign in');
    const role = await poll(async () => (await probe(page))?.state?.role, 5000);
    assert(role === 'viewer', `/api/state says role ${role}`);
    assert(await poll(async () => (await probe(page))?.videoWidth > 0, VIDEO_TIMEOUT_MS, 200), 'the viewer sees no video');
    assert(await page.isVisible('#view-only'), 'no "view only" badge');
    assert(!(await page.isVisible('#controls')), 'the input controls are shown to a viewer');
    const offset = await recordSize();
    await page.click('#screen');
    await page.keyboard.press('KeyB');
    await sleep(500);
    assert(!(await isCaptured(page)), 'a viewer captured input');
    const typed = (await keyboardReportsSince(offset)).filter((r) => r !== REPORT_NONE);
    assert(typed.length === 0, `a viewer's key press reached the HID: [${typed.join(', ')}]`);
    const text = (await hint(page)).trim();
    assert(text === 'view only', `hint says "${text}"`);
    return 'signed in as viewer: video, "view only" badge, no controls; click + KeyB captured and typed nothing';
  } finally {
    await context.close();
  }
}

async function checkMjpegPage(context, query = '') {
  const page = watchPage(await context.newPage(), `mjpeg.html${query}`);
  try {
    await page.goto(`${BASE}/mjpeg.html${query}`);
    const want = query ? 'img' : 'canvas';
    const shown = await poll(async () => (await probe(page))?.imgWidth > 0, 10_000, 200);
    assert(shown, `the MJPEG ${want} showed no frame within 10 s`);
    const { delta, frames, probe: p } = await stripAdvances(page);
    assert(p.pictureTag === want, `the picture is a <${p.pictureTag}>, expected a <${want}>`);
    let how = `<${want}>`;
    if (want === 'canvas') {
      // The canvas view decodes every frame it shows; the strip advanced by as many frames
      // as were counted, give or take the ones dropped while a decode ran.
      assert(p.mjpeg && p.mjpeg.shown > 0 && p.mjpeg.broken === 0, `canvas view counters ${JSON.stringify(p.mjpeg)}`);
      assert(frames > 0, 'the probe counted no MJPEG frame in 2 s');
      const decoded = p.latencies.filter((l) => typeof l.decoded === 'number' && l.decoded <= l.receive);
      assert(decoded.length > 0, 'no MJPEG frame carries its decode moment');
      how += `, ${p.mjpeg.shown} shown, ${p.mjpeg.dropped} dropped`;
      // Hidden, the page decodes nothing (the frames wait, newest only); shown again, it goes on.
      const setHidden = (hidden) => page.evaluate((h) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
      await setHidden(true);
      await sleep(300);
      const h0 = (await probe(page)).mjpeg;
      await sleep(1000);
      const h1 = (await probe(page)).mjpeg;
      assert(h1.shown === h0.shown, `a hidden page showed ${h1.shown - h0.shown} frames`);
      assert(h1.dropped - h0.dropped >= 10, `a hidden page passed over only ${h1.dropped - h0.dropped} frames in 1 s`);
      await setHidden(false);
      const back = await poll(async () => (await probe(page)).mjpeg.shown >= h1.shown + 10, 5_000, 100);
      assert(back, 'the page showed no frames after it was visible again');
      how += `; hidden 1 s: 0 shown, ${h1.dropped - h0.dropped} passed over, then shown again`;
    }
    return `${how} ${p.imgWidth}x${p.imgHeight}, strip counter +${delta} in 2 s`;
  } finally {
    await page.close();
  }
}

async function checkForcedFallback(context) {
  const page = watchPage(await context.newPage(), '?mjpeg=1');
  try {
    await page.goto(`${BASE}/?mjpeg=1`);
    const shown = await poll(async () => (await probe(page))?.imgWidth > 0, 10_000, 200);
    assert(shown, 'the fallback picture showed no frame within 10 s');
    assert(await page.isVisible('#fallback-note'), 'the "WebRTC unavailable" note is not shown');
    assert(await page.isVisible('#input-note'), 'the "input unavailable" note is not shown');
    const { delta, probe: p } = await stripAdvances(page);
    assert(p.fallback, 'window.periscope.fallback is false');
    assert(p.pictureTag === 'canvas' && p.mjpeg?.shown > 0, `the fallback shows a <${p.pictureTag}>, not the canvas view`);
    return `<canvas> ${p.imgWidth}x${p.imgHeight}, strip counter +${delta} in 2 s, notes shown`;
  } finally {
    await page.close();
  }
}

/**
 * Wrong passwords until the server refuses with 429 and the form says so. Run last: it locks
 * this address out of logins for a while.
 */
async function checkLockout(browser) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = watchPage(await context.newPage(), 'lockout');
    await page.goto(`${BASE}/`);
    await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });
    const seen = [];
    for (let i = 1; i <= LOCKOUT_MAX_ATTEMPTS; i++) {
      await page.fill('#password', `${PASSWORD}-wrong-${i}`);
      await page.click('#login-submit');
      await page.waitForSelector('#login-error', { state: 'visible', timeout: 5_000 });
      await page.waitForSelector('#login-submit:enabled', { timeout: 5_000 });
      const text = (await page.textContent('#login-error')).trim();
      seen.push(text);
      if (text.startsWith('too many attempts')) return `"${text}" after ${i} wrong passwords`;
    }
    const counts = {};
    for (const t of seen) counts[t] = (counts[t] ?? 0) + 1;
    throw new Error(
      `no "too many attempts" after ${LOCKOUT_MAX_ATTEMPTS} wrong passwords; the form said ` +
        Object.entries(counts).map(([t, n]) => `"${t}" x${n}`).join(', '),
    );
  } finally {
    await context.close();
  }
}

async function checkUnauthenticated(path) {
  const status = await rawStatus(path);
  assert(status === 401, `GET ${path} without a session answered ${status}`);
  return `GET ${path} → 401`;
}

// ===== main =====

async function main() {
  const timer = setTimeout(() => {
    console.log(`FAIL run — did not finish within ${RUN_TIMEOUT_MS / 1000} s`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);

  console.log(`periscope e2e against ${BASE}`);
  if (!PASSWORD) {
    console.log('FAIL setup — PERISCOPE_PASSWORD is not set');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  if (process.env.PERISCOPE_E2E_FRONTEND) {
    // A document the test fulfils counts as "public", which may not reach 127.0.0.1 (/ws).
    LAUNCH.args.push('--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessChecks');
  }
  const browser = await chromium.launch(LAUNCH);
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    if (process.env.PERISCOPE_E2E_FRONTEND) await serveFrontendFrom(context, process.env.PERISCOPE_E2E_FRONTEND);
    const page = watchPage(await context.newPage(), 'index');

    await check('1 login form (wrong password, then right)', () => checkLogin(page));
    await ensureLoggedIn(context);
    await check('2 WebRTC video plays and the strip advances', () => checkVideo(page));
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT }).catch(() => {});
    await check('3 key typed in the page reaches the HID record', () => checkKey(page));
    await check('3b special-keys menu: Ctrl+Alt+Del reaches the HID record', () => checkSpecialKeys(page));
    await check('3c paste box types text; an untypeable character is shown as an error', () => checkPaste(page));
    await check('3d keyboard LEDs from the device light in the page', () => checkLeds(page));
    await check('3e wheel reaches the HID record', () => checkWheel(page));
    await check('3f relative mouse (pointer lock) sends batched mouse_rel', () => checkRelativeMouse(page));
    await check('3g fullscreen takes the Keyboard Lock and gives it back', () => checkFullscreen(page));
    await check('3h a viewer session is view only', () => checkViewOnly(browser));
    await check('3i the Stats overlay shows server stages and page latency', () => checkStats(page));
    await check('3i2 the Jiggler toggle turns the mouse jiggler on and off', () => checkJiggler(page));
    const viewer = await viewerPage(browser).catch((err) => ({ error: err }));
    const viewerMissing = () => {
      throw new Error(`no viewer page: ${viewer.error?.message ?? viewer.error}`);
    };
    try {
      await check('3j Power menu: a confirm=true button asks first, runs its command; a viewer sees it busy; audited',
        () => (viewer.page ? checkPowerConfirmButton(page, viewer.page) : viewerMissing()));
      await check('3k Power menu: ATX presses, the API error (429) in the menu, a switch, Wake-on-LAN',
        () => checkPowerAtxSwitchWol(page));
      await check('3l Power menu: a viewer sees the state, controls disabled',
        () => (viewer.page ? checkPowerViewOnly(viewer.page) : viewerMissing()));
      await check('3m Media menu: upload with progress, SHA-256 shown, attach answers 404 (no gadget), delete after the dialog',
        () => checkMediaUpload(page));
      await check('3n Media menu: a file over --media-max-mb is refused in the page; the API says 413',
        () => checkMediaTooLarge(page));
      await check('3o Media menu: a viewer sees the images, controls disabled',
        () => (viewer.page ? checkMediaViewOnly(page, viewer.page) : viewerMissing()));
      await check('3p Stream menu: JPEG quality and H.264 bitrate change live; out of range refused; a viewer sees them disabled',
        () => checkStreamSettings(page, viewer.page));
    } finally {
      await viewer.context?.close().catch(() => {});
    }
    await check('4a /mjpeg.html shows MJPEG frames on a canvas (fetch + createImageBitmap)', () => checkMjpegPage(context));
    await check('4a2 /mjpeg.html?img=1 shows them in a plain <img>', () => checkMjpegPage(context, '?img=1'));
    await check('4b /?mjpeg=1 falls back to MJPEG', () => checkForcedFallback(context));
    await check('5 unauthenticated /stream.mjpeg is refused', () => checkUnauthenticated('/stream.mjpeg'));
    await check('6 unauthenticated /api/state and /snapshot.jpg are refused', async () => {
      await checkUnauthenticated('/api/state');
      await checkUnauthenticated('/snapshot.jpg');
      return 'both → 401';
    });
    if (process.env.PERISCOPE_E2E_SKIP_LOCKOUT !== '1') {
      await check('7 repeated wrong passwords → "too many attempts" (429)', () => checkLockout(browser));
    } else {
      console.log('SKIP 7 repeated wrong passwords (PERISCOPE_E2E_SKIP_LOCKOUT=1)');
    }
    await check('8 no script errors in the pages', async () => {
      assert(pageErrors.length === 0, pageErrors.join('; '));
      return '';
    });
  } finally {
    await browser.close().catch(() => {});
    clearTimeout(timer);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err) => {
  console.log(`FAIL run — ${err?.stack ?? err}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
