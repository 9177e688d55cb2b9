// keyframes.mjs — the forced-keyframes benchmark's row (not a test): which frames Chromium
// showed were keyframes, and how late they were against every frame's median.
//
// Args: LATENCY_JSON (latency.mjs --samples output) KEYFRAMES_LOG (lines "SEQ ENCODE_S" the
// bench polled from /metrics: periscope_keyframe_sequence_last and _encode_seconds_last)
// SIZE JOINS IDRS. Prints one Markdown row. A keyframe's frame and the next two (which wait
// behind it in the decoder) count as "after a keyframe".
import { readFileSync } from 'node:fs';

const [latencyFile, keyframeFile, size, joins, idrs] = process.argv.slice(2);
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
const near = (counter) => [0, 1, 2].some((d) => idrEncode.has((counter - d + 2 ** 32) % 2 ** 32));
const after = r.raw.filter((s) => near(s.counter));
const seen = r.raw.filter((s) => idrEncode.has(s.counter)).length;
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
const joined = joins === 'yes' ? 'every 2 s' : 'none';
console.log(`| ${size} | ${joined} | ${idrs} | ${seen} | ${r.fps} | ${encCell} | ${cell('receive')} | ${cell('display')} |`);
