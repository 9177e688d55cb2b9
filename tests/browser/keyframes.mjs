// keyframes.mjs — the forced-keyframes benchmark's row (not a test): which frames Chromium
// showed were keyframes, and how late they were against every frame's median.
//
// Args: LATENCY_JSON (latency.mjs --samples output) KEYFRAMES_LOG (lines "SEQ ENCODE_S" the
// bench polled from /metrics: periscope_keyframe_sequence_last and _encode_seconds_last)
// SIZE MODE IDRS, MODE one of none | pli | join. Prints one Markdown row: for each of the
// page's three moments (decoded, frame callback, expected display; see latency.mjs) the
// median, the latest after keyframes and the latest of all, then what a keyframe adds. A keyframe's frame
// and the next two (which wait behind it in the decoder) count as "after a keyframe".
// With MODE none there is no keyframe in the window: frames every 60 (2 s at 30 fps) stand
// in for keyframes, as a control of how far a sample of that size strays on its own.
import { readFileSync } from 'node:fs';

const [latencyFile, keyframeFile, size, mode, idrs] = process.argv.slice(2);
const r = JSON.parse(readFileSync(latencyFile, 'utf8'));
const idrEncode = new Map();
for (const line of readFileSync(keyframeFile, 'utf8').split('\n')) {
  const [seq, secs] = line.trim().split(/\s+/).map(Number);
  if (Number.isFinite(seq) && Number.isFinite(secs)) idrEncode.set(seq % 2 ** 32, secs * 1000);
}
const median = (v) => {
  const s = v.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : null;
};
const max = (v) => v.filter((x) => typeof x === 'number').reduce((a, b) => Math.max(a, b), -Infinity);
const control = mode === 'none';
// The keyframes' counters: those /metrics named, or every 60th frame in the control.
const isKey = control ? (c) => c % 60 === 0 : (c) => idrEncode.has(c);
const near = (counter) => [0, 1, 2].some((d) => isKey((counter - d + 2 ** 32) % 2 ** 32));
const after = r.raw.filter((s) => near(s.counter));
const seen = control ? 0 : r.raw.filter((s) => idrEncode.has(s.counter)).length;
// What a keyframe adds, paired: the latest of its frame and the next two, less the median
// of the ten frames before it; median / max over the keyframes.
const byCounter = new Map(r.raw.map((s) => [s.counter, s]));
const added = (k) => {
  const out = [];
  for (const s of r.raw) {
    if (!isKey(s.counter)) continue;
    const at = (d) => byCounter.get((s.counter + d + 2 ** 32) % 2 ** 32)?.[k];
    const before = median(Array.from({ length: 10 }, (_, i) => at(-1 - i)));
    const worst = max([0, 1, 2].map(at));
    if (before !== null && Number.isFinite(worst)) out.push(worst - before);
  }
  return out.length ? `${median(out).toFixed(1)} / ${max(out).toFixed(1)}` : '—';
};
const cell = (k) => {
  const m = median(r.raw.map((s) => s[k]));
  if (m === null) return '— | —';
  const worst = max(after.map((s) => s[k]));
  const all = max(r.raw.map((s) => s[k]));
  if (!Number.isFinite(worst)) return `${m.toFixed(1)} / — / ${all.toFixed(1)} | —`;
  return `${m.toFixed(1)} / ${worst.toFixed(1)} / ${all.toFixed(1)} | ${worst <= 2 * m ? 'yes' : 'no'}`;
};
const enc = [...idrEncode.values()];
const encCell = enc.length ? `${median(enc).toFixed(1)} / ${max(enc).toFixed(1)}` : '—';
const forced = { none: 'none (control: every 60th frame)', pli: 'PLI every 2 s', join: 'a viewer joins every 2 s' }[mode] ?? mode;
console.log(
  `| ${size} | ${forced} | ${idrs} | ${seen} | ${r.fps} | ${encCell} | ${cell('decoded')} | ${added('decoded')} | ${cell('receive')} | ${added('receive')} | ${cell('display')} | ${added('display')} |`,
);
