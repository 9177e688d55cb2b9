// latency.mjs — glass-to-glass latency benchmark (not a test): opens the periscope UI in
// headless Chromium, lets the picture settle, then collects the per-frame latencies the page
// decodes from the test pattern's timestamp strip (window.periscope.latencies, see
// frontend/src/probe.js) for a fixed time, and prints one JSON line:
//   {"mode":"webrtc","frames":…,"fps":…,"receive":{"median":…,"p95":…},"display":{…}}
// receive: wall clock at the frame callback minus the capture time in the strip.
// display: the frame's expected display time minus the capture time.
// decoded: when the browser had the frame decoded, minus the capture time: for WebRTC the
// callback metadata's receiveTime + processingDuration; for MJPEG (the canvas view) when its
// createImageBitmap finished; null for MJPEG in an <img> (mjpeg-img).
//
// Env: PERISCOPE_URL, PERISCOPE_PASSWORD. Args: --mode webrtc|mjpeg|mjpeg-img (mjpeg.html with
// ?img=1: the stream in a plain <img>, as browsers without streaming fetch get it), --seconds N (default 20),
// --raw: add every sample ({receive, display, decoded, counter}) as "raw" (tests/browser/keyframes.mjs).
import { chromium } from 'playwright-core';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const mode = arg('mode', 'webrtc');
const seconds = Number(arg('seconds', '20'));
const base = process.env.PERISCOPE_URL;
const password = process.env.PERISCOPE_PASSWORD;
if (!base || !password) {
  console.error('latency.mjs: set PERISCOPE_URL and PERISCOPE_PASSWORD');
  process.exit(2);
}

const quantile = (values, q) => {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return null;
  return Math.round(v[Math.min(v.length - 1, Math.floor(q * v.length))] * 10) / 10;
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--ignore-certificate-errors', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1600, height: 1000 } });
  const login = await context.request.post(`${base}/api/auth/login`, { data: { user: 'admin', password } });
  if (login.status() !== 200) throw new Error(`login: HTTP ${login.status()}`);
  const page = await context.newPage();
  const path = { webrtc: '/', mjpeg: '/mjpeg.html', 'mjpeg-img': '/mjpeg.html?img=1' }[mode];
  if (!path) throw new Error(`latency.mjs: unknown --mode ${mode}`);
  await page.goto(`${base}${path}`);
  await page.waitForFunction(() => window.periscope && window.periscope.frames > 30, null, { timeout: 30000 });
  await page.waitForTimeout(2000);
  const start = await page.evaluate(() => { window.periscope.latencies.length = 0; return window.periscope.frames; });
  const samples = [];
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    await page.waitForTimeout(5000);
    samples.push(...await page.evaluate(() => window.periscope.latencies.splice(0)));
  }
  const frames = await page.evaluate(() => window.periscope.frames) - start;
  const elapsed = (Date.now() - t0) / 1000;
  const pick = (k) => samples.map((s) => s[k]);
  const stat = (k) => ({ median: quantile(pick(k), 0.5), p95: quantile(pick(k), 0.95), max: quantile(pick(k), 1) });
  const out = {
    mode,
    frames,
    fps: Math.round((frames / elapsed) * 10) / 10,
    samples: samples.length,
    receive: stat('receive'),
    display: stat('display'),
    decoded: stat('decoded'),
  };
  if (process.argv.includes('--raw')) out.raw = samples;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
