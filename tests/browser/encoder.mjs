// encoder.mjs — headless Chromium plays the H.264 of the encoder a running periscope chose
// (run.sh starts it; scripts/test with `--profile tests/browser/x264.toml`, whose chain is
// x264enc then openh264, on a build with the gstreamer feature).
//
// Environment:
//   PERISCOPE_URL               base URL, e.g. https://127.0.0.1:18443
//   PERISCOPE_PASSWORD          the admin password the server runs with
//   PERISCOPE_EXPECT_ENCODER    the element /api/state must name (default x264enc)
//   PERISCOPE_EXPECT_SIZE       the picture size the video must decode to (default 1280x720)
//   PERISCOPE_CHROMIUM          browser binary (default /usr/bin/chromium)
//
// Checks: the server encodes with the expected element; the page's <video> shows decoded
// frames of the expected size; the timestamp strip read from those frames advances (so the
// pictures are the source's, decoded, not a frozen first frame); the browser's WebRTC stats
// say H.264 and count decoded frames and keyframes. Prints one PASS/FAIL line per check, then
// exactly `N passed, N failed`; exits non-zero when any failed.

import { chromium } from 'playwright-core';

const BASE = (process.env.PERISCOPE_URL ?? 'https://127.0.0.1:18443').replace(/\/+$/, '');
const PASSWORD = process.env.PERISCOPE_PASSWORD ?? '';
const ENCODER = process.env.PERISCOPE_EXPECT_ENCODER ?? 'x264enc';
const [WIDTH, HEIGHT] = (process.env.PERISCOPE_EXPECT_SIZE ?? '1280x720').split('x').map(Number);
const CHROMIUM = process.env.PERISCOPE_CHROMIUM ?? '/usr/bin/chromium';

/** The whole run is abandoned after this long (a hung page must not hang CI). */
const RUN_TIMEOUT_MS = 90_000;
/** How long the first decoded frame may take. */
const VIDEO_TIMEOUT_MS = 20_000;
/** How long frames are counted for. */
const WATCH_MS = 3_000;
/** Fewest frames the page must show in WATCH_MS (the source runs at 30 fps). */
const MIN_FRAMES = 20;

let passed = 0;
let failed = 0;

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

async function poll(fn, timeoutMs, everyMs = 200) {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!v && Date.now() < end) {
    await sleep(everyMs);
    v = await fn();
  }
  return v;
}

/** The page's video state and the peer connection's inbound video stats. */
function probe(page) {
  return page.evaluate(async () => {
    const p = window.periscope;
    const video = document.getElementById('video');
    if (!p || !video) return null;
    let inbound = null;
    let codec = null;
    if (p.pc) {
      const stats = await p.pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s;
      });
      if (inbound?.codecId) codec = stats.get(inbound.codecId) ?? null;
    }
    return {
      fallback: p.fallback,
      frames: p.frames,
      strip: p.lastStrip,
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
      decoded: inbound?.framesDecoded ?? 0,
      keyframes: inbound?.keyFramesDecoded ?? 0,
      frameWidth: inbound?.frameWidth ?? 0,
      frameHeight: inbound?.frameHeight ?? 0,
      mime: codec?.mimeType ?? '',
      fmtp: codec?.sdpFmtpLine ?? '',
    };
  });
}

async function main() {
  const timer = setTimeout(() => {
    console.log(`FAIL run — did not finish within ${RUN_TIMEOUT_MS / 1000} s`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  console.log(`periscope encoder check against ${BASE}: expecting ${ENCODER}, ${WIDTH}x${HEIGHT}`);
  const browser = await chromium.launch({
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
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${BASE}/`);
    await page.waitForSelector('#login-form', { state: 'visible', timeout: 10_000 });
    await page.fill('#password', PASSWORD);
    await page.click('#login-submit');
    assert(await poll(() => page.isVisible('#viewer'), 10_000), 'not signed in');

    await check(`E1 /api/state names the encoder ${ENCODER}`, async () => {
      const state = await page.evaluate(async () => (await fetch('/api/state')).json());
      assert(state.encoder === ENCODER, `encoder is ${JSON.stringify(state.encoder)} (profile ${state.profile})`);
      assert(state.codec === 'h264', `codec is ${state.codec}`);
      return `encoder ${state.encoder}, profile ${state.profile}`;
    });

    await check(`E2 the video shows ${ENCODER}'s H.264 decoded at ${WIDTH}x${HEIGHT}`, async () => {
      const up = await poll(async () => {
        const p = await probe(page);
        return p && (p.fallback || (p.videoWidth > 0 && p.strip)) ? p : null;
      }, VIDEO_TIMEOUT_MS);
      assert(up, `no decoded frame within ${VIDEO_TIMEOUT_MS / 1000} s`);
      assert(!up.fallback, 'the page fell back to MJPEG');
      assert(
        up.videoWidth === WIDTH && up.videoHeight === HEIGHT,
        `video is ${up.videoWidth}x${up.videoHeight}`,
      );
      await sleep(WATCH_MS);
      const p = await probe(page);
      const frames = p.frames - up.frames;
      const advanced = (p.strip.counter - up.strip.counter) >>> 0;
      assert(frames >= MIN_FRAMES, `${frames} frames shown in ${WATCH_MS / 1000} s`);
      assert(advanced > 0 && advanced < 100_000, `strip counter ${up.strip.counter} → ${p.strip.counter}`);
      assert(p.mime.toLowerCase() === 'video/h264', `codec ${p.mime || '(none)'}`);
      assert(p.frameWidth === WIDTH && p.frameHeight === HEIGHT, `decoder says ${p.frameWidth}x${p.frameHeight}`);
      assert(p.decoded > up.decoded && p.keyframes >= 1, `decoded ${p.decoded}, keyframes ${p.keyframes}`);
      return (
        `${p.videoWidth}x${p.videoHeight}, ${frames} frames in ${WATCH_MS / 1000} s, strip +${advanced}, ` +
        `${p.decoded} decoded (${p.keyframes} keyframes), ${p.mime} ${p.fmtp}`
      );
    });

    await check('E3 no script errors in the page', async () => {
      assert(errors.length === 0, errors.join('; '));
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
