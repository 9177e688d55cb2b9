// e2e.mjs — headless-browser end-to-end test of a running periscope appliance (test pattern
// source, `--hid record:FILE` backend) through its real web UI in Chromium.
//
// Environment:
//   PERISCOPE_URL         base URL, e.g. https://127.0.0.1:18443 (self-signed cert is accepted)
//   PERISCOPE_PASSWORD    the admin password the server was started with
//   PERISCOPE_RECORD      the JSON-lines file the record HID backend appends reports to
//   PERISCOPE_CHROMIUM    browser binary (default /usr/bin/chromium)
//   PERISCOPE_SCREENSHOT  if set, a PNG of the logged-in page is saved there
//   PERISCOPE_E2E_SKIP_LOCKOUT=1  skip the last check, which locks this address out of
//                         logins for a while (so a re-run right after it would fail check 1)
//
// Prints one line per check (PASS/FAIL name — detail) and then exactly `N passed, N failed`;
// exits non-zero when any check failed. Each check leaves the browser logged in, so a failure
// early on does not hide later results.

import { chromium } from 'playwright-core';
import { promises as fs } from 'node:fs';
import https from 'node:https';
import http from 'node:http';

const BASE = (process.env.PERISCOPE_URL ?? 'https://127.0.0.1:18443').replace(/\/+$/, '');
const PASSWORD = process.env.PERISCOPE_PASSWORD ?? '';
const RECORD = process.env.PERISCOPE_RECORD ?? '';
const CHROMIUM = process.env.PERISCOPE_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.PERISCOPE_SCREENSHOT ?? '';

/** The whole run is abandoned after this long (a hung page must not hang CI). */
const RUN_TIMEOUT_MS = 180_000;
/** How long the WebRTC video may take to show its first frame. */
const VIDEO_TIMEOUT_MS = 20_000;
/** How long a key press may take to reach the record file. */
const HID_TIMEOUT_MS = 5_000;
/** Press and release reports of KeyA (usage 0x04) in the 8-byte boot keyboard report. */
const REPORT_KEY_A = '0000040000000000';
const REPORT_NONE = '0000000000000000';
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
      imgWidth: img ? img.naturalWidth : 0,
      imgHeight: img ? img.naturalHeight : 0,
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
async function keyboardReportsSince(offset) {
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
      if (rec.device === 'keyboard') out.push(String(rec.report).toLowerCase());
    } catch (_) {
      // a half-written last line: read it next time
    }
  }
  return out;
}

// ===== checks =====

async function checkLogin(page) {
  await page.goto(`${BASE}/`);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });
  await page.fill('#password', `${PASSWORD}-wrong`);
  await page.click('#login-submit');
  await page.waitForSelector('#login-error', { state: 'visible', timeout: 5_000 });
  const wrong = (await page.textContent('#login-error')).trim();
  assert(wrong === 'wrong password', `after a wrong password the form says "${wrong}"`);
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
  return `"wrong password" shown, then signed in (session cookie${httpOnly ? ', HttpOnly' : ' NOT HttpOnly'})`;
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

async function checkMjpegPage(context) {
  const page = watchPage(await context.newPage(), 'mjpeg.html');
  try {
    await page.goto(`${BASE}/mjpeg.html`);
    const shown = await poll(async () => (await probe(page))?.imgWidth > 0, 10_000, 200);
    assert(shown, 'the <img> showed no frame within 10 s');
    const { delta, probe: p } = await stripAdvances(page);
    return `${p.imgWidth}x${p.imgHeight}, strip counter +${delta} in 2 s`;
  } finally {
    await page.close();
  }
}

async function checkForcedFallback(context) {
  const page = watchPage(await context.newPage(), '?mjpeg=1');
  try {
    await page.goto(`${BASE}/?mjpeg=1`);
    const shown = await poll(async () => (await probe(page))?.imgWidth > 0, 10_000, 200);
    assert(shown, 'the fallback <img> showed no frame within 10 s');
    assert(await page.isVisible('#fallback-note'), 'the "WebRTC unavailable" note is not shown');
    assert(await page.isVisible('#input-note'), 'the "input unavailable" note is not shown');
    const { delta, probe: p } = await stripAdvances(page);
    assert(p.fallback, 'window.periscope.fallback is false');
    return `${p.imgWidth}x${p.imgHeight}, strip counter +${delta} in 2 s, notes shown`;
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
  const browser = await chromium.launch(LAUNCH);
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    const page = watchPage(await context.newPage(), 'index');

    await check('1 login form (wrong password, then right)', () => checkLogin(page));
    await ensureLoggedIn(context);
    await check('2 WebRTC video plays and the strip advances', () => checkVideo(page));
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT }).catch(() => {});
    await check('3 key typed in the page reaches the HID record', () => checkKey(page));
    await check('4a /mjpeg.html shows MJPEG frames', () => checkMjpegPage(context));
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
