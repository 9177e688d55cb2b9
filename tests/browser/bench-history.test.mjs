// bench-history.test.mjs — Node unit tests (node --test) of scripts/bench-history.mjs, the
// benchmark history that makes regressions visible: which table columns it reads as
// measurements, how it names rows and cells, what counts as a move beyond the noise, and the
// whole command on a section file and a history file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseTables, columnKind, numbers, measurements, compare, parseHistory, historyLines,
  previousRun, renderChanges, speedOf, HISTORY_HEADER, SPEED_ROW, SPEED_COLUMN,
} from '../../scripts/bench-history.mjs';

const script = join(dirname(fileURLToPath(import.meta.url)), '../../scripts/bench-history.mjs');

/** A section like scripts/bench's glass-to-glass and fan-out ones, with the given cells. */
function section({ g2g = '10 / 23 [11, 12]', cpu = '11.9', fps = '29.8', met = 'met' } = {}) {
  return `## Glass-to-glass

Produced by \`scripts/bench\` on 2026-11-23. Prose with | no table.

| size | path | frames/s | reaches page (rVFC callback) | WebRTC Mbit/s | load CPU % |
|---|---|---|---|---|---|
| 1280x720 | WebRTC H.264 | ${fps} | ${g2g} | 0.2 | 4 |
| 1280x720 | MJPEG page | 29.8 | 27 / 42 | — | 1 |

| size | WebRTC viewers | server CPU % | RSS MiB | real-time at 30 fps | added ms | added ms |
|---|---|---|---|---|---|---|
| 1280x720 | 1 | ${cpu} | 30.2 | yes | 3.0 / 10.0 | 0.7 / 20.2 |
| 1280x720 | 1 | 12.0 | 30.0 | — | — | 1 |

| target | measured | met |
|---|---|---|
| 720p reaches the page ≤ 12 ms | 10 (runs 8–14) | ${met} |
`;
}

test('tables are found by their separator line, cells trimmed', () => {
  const tables = parseTables(section());
  assert.equal(tables.length, 3);
  assert.deepEqual(tables[0].header.slice(0, 3), ['size', 'path', 'frames/s']);
  assert.deepEqual(tables[0].rows[1], ['1280x720', 'MJPEG page', '29.8', '27 / 42', '—', '1']);
  assert.deepEqual(tables[2].rows, [['720p reaches the page ≤ 12 ms', '10 (runs 8–14)', 'met']]);
});

test('a column is a target, skipped, a measurement with a direction, or part of the row name', () => {
  assert.equal(columnKind('met', ['met', '**not met**']), 'target');
  assert.equal(columnKind('real-time at 30 fps', ['yes', '—']), 'target');
  assert.equal(columnKind('≤ 2× median', ['no', 'yes']), 'target');
  assert.equal(columnKind('WebRTC Mbit/s', ['0.2']), 'skip');
  assert.equal(columnKind('load CPU %', ['4']), 'skip');
  assert.equal(columnKind('moved to the low rung', ['0', '3']), 'skip', 'a count, not a row key');
  assert.equal(columnKind('measured', ['10 (runs 8–14)']), 'skip');
  assert.equal(columnKind('frames/s', ['29.8']), 'higher');
  assert.equal(columnKind('WebRTC f/s per viewer', ['30.0 / 30.0']), 'higher');
  assert.equal(columnKind('server: encoded→sent', ['0.11 / 1.72']), 'lower');
  assert.equal(columnKind('server CPU %', ['11.9']), 'lower');
  assert.equal(columnKind('peak RSS MiB', ['35.3']), 'lower');
  assert.equal(columnKind('median ms/frame', ['1.1']), 'lower');
  assert.equal(columnKind('displayed (expectedDisplayTime)', ['29.6 / 43.8']), 'lower');
  assert.equal(columnKind('decoded in page (receiveTime + processingDuration)', ['5.2 / 9.2', '—']), 'lower');
  assert.equal(columnKind('WebRTC viewers', ['1', '10']), 'key');
  assert.equal(columnKind('size', ['1280x720']), 'key');
});

test('a cell\'s numbers stop at its bracketed detail', () => {
  assert.deepEqual(numbers('10 / 23 [11, 12, 14]'), [10, 23]);
  assert.deepEqual(numbers('29.6 / 43.8'), [29.6, 43.8]);
  assert.deepEqual(numbers('—'), []);
});

test('measurements name rows by their key cells and repeats by a count', () => {
  const m = measurements(section());
  const at = (row, column) => m.find((x) => x.row === row && x.column === column);
  assert.deepEqual(at('1280x720 · WebRTC H.264', 'reaches page (rVFC callback)'),
    { row: '1280x720 · WebRTC H.264', column: 'reaches page (rVFC callback)', kind: 'lower', value: '10 / 23' });
  assert.equal(at('1280x720 · 1', 'server CPU %').value, '11.9');
  assert.equal(at('1280x720 · 1 (2)', 'server CPU %').value, '12.0');
  assert.equal(at('1280x720 · 1', 'added ms (2)').value, '0.7 / 20.2');
  assert.equal(at('1280x720 · 1', 'real-time at 30 fps').value, 'met');
  assert.equal(at('720p reaches the page ≤ 12 ms', 'met').kind, 'target');
  // Skipped columns and dashes are not measurements.
  assert.equal(m.filter((x) => /Mbit|load|measured/.test(x.column)).length, 0);
  assert.equal(at('1280x720 · 1 (2)', 'real-time at 30 fps'), undefined);
  assert.equal(at('1280x720 · 1 (2)', 'added ms'), undefined);
});

test('only moves beyond 20 % and 1 unit count, each the way its column is better', () => {
  const base = measurements(section());
  // Noise: latency 10 → 11.5 (+15 %), p95 23 → 24 (1 unit), CPU 11.9 → 12.8 (< 1 unit).
  const noise = compare(base, measurements(section({ g2g: '11.5 / 24', cpu: '12.8' })));
  assert.deepEqual(noise.changes, []);
  assert.equal(noise.compared, base.length);
  const r = compare(base, measurements(section({ g2g: '10 / 31', cpu: '8.0', fps: '20.1', met: 'not met' })));
  assert.deepEqual(r.changes.map((c) => [c.row, c.column, c.change]), [
    ['1280x720 · WebRTC H.264', 'frames/s', 'worse'],
    ['1280x720 · WebRTC H.264', 'reaches page (rVFC callback)', 'worse'],
    ['720p reaches the page ≤ 12 ms', 'met', 'worse'],
    ['1280x720 · 1', 'server CPU %', 'better'],
  ]);
  assert.equal(r.changes[1].before, '10 / 23');
  assert.equal(r.changes[1].now, '10 / 31');
  // Fewer frames/s is worse, more is better; a target that comes true is better.
  const up = compare(measurements(section({ fps: '20.1', met: 'not met' })), base);
  assert.deepEqual(up.changes.map((c) => c.change), ['better', 'better']);
});

test('a cell moving both ways at once counts as worse', () => {
  const r = compare(measurements(section({ g2g: '10 / 23' })), measurements(section({ g2g: '5 / 40' })));
  assert.deepEqual(r.changes.map((c) => [c.column, c.change]), [['reaches page (rVFC callback)', 'worse']]);
});

test('history lines round-trip and the previous run is the section\'s latest', () => {
  const cells = measurements(section());
  const tsv = [HISTORY_HEADER,
    ...historyLines('2026-11-22T10:00Z', 'aaa', 'Glass-to-glass', cells),
    ...historyLines('2026-11-23T09:00Z', 'bbb', 'Glass-to-glass', measurements(section({ cpu: '20.0' }))),
    ...historyLines('2026-11-23T10:00Z', 'ccc', 'Fan-out', cells)].join('\n');
  const history = parseHistory(tsv);
  assert.equal(history.length, 3 * cells.length);
  const prev = previousRun(history, 'Glass-to-glass');
  assert.equal(prev.run, '2026-11-23T09:00Z');
  assert.equal(prev.commit, 'bbb');
  assert.equal(prev.cells.length, cells.length);
  assert.equal(prev.cells.find((c) => c.row === '1280x720 · 1' && c.column === 'server CPU %').value, '20.0');
  assert.equal(previousRun(history, 'Encode cost'), null);
  assert.deepEqual(historyLines('r', 'c', 's', [{ row: 'a\tb', column: 'x', kind: 'lower', value: '1\n2' }]),
    ['r\tc\ts\ta b\tx\tlower\t1 2']);
});

test('the report says what moved, or that nothing did, or that this is the first run', () => {
  const first = renderChanges(null, null, 'docs/bench-history.tsv');
  assert.match(first, /first run of this section recorded in `docs\/bench-history.tsv`/);
  const prev = { run: '2026-11-22T10:00Z', commit: 'aaa' };
  assert.match(renderChanges(prev, { changes: [], compared: 12 }, 'h.tsv'), /12 cells compared, none moved beyond 20 % and 1 unit/);
  const text = renderChanges(prev, {
    compared: 12,
    changes: [
      { row: 'r', column: 'c', before: '10 / 23', now: '10 / 31', change: 'worse' },
      { row: 'r', column: 'd', before: '4', now: '9', change: 'worse' },
      { row: 's', column: 'c', before: '9', now: '3', change: 'better' },
      { row: 'r', column: 'e', before: '9', now: '3', change: 'better' },
    ],
  }, 'h.tsv');
  assert.match(text, /2 worse and 2 better/);
  // One line per row and direction, the cells that moved in it.
  assert.match(text, /\n\| r \| \*\*worse\*\* \| c: 10 \/ 23 → 10 \/ 31; d: 4 → 9 \|\n\| s \| better \| c: 9 → 3 \|\n\| r \| better \| e: 9 → 3 \|\n$/);
});

test('the machine\'s speed is reported beside the changes, never as one', () => {
  const speedCell = (v) => ({ row: SPEED_ROW, column: SPEED_COLUMN, kind: 'higher', value: v });
  const before = [...measurements(section()), speedCell('240')];
  const now = [...measurements(section()), speedCell('120')];
  assert.equal(speedOf(before), 240);
  assert.equal(speedOf(measurements(section())), null);
  const result = compare(before, now);
  assert.deepEqual(result.changes, [], 'half the speed is not a change of a cell');
  const prev = { run: 'r1', commit: 'aaa', cells: before };
  assert.match(renderChanges(prev, result, 'h.tsv', 120),
    /none moved beyond 20 % and 1 unit\. The machine's CPU check \(cjpeg, one core\) ran at 120 images\/s against 240 then \(−50 %\)/);
  assert.match(renderChanges({ ...prev, cells: measurements(section()) }, result, 'h.tsv', 120), /120 images\/s \(the previous run has none\)/);
  assert.doesNotMatch(renderChanges(prev, result, 'h.tsv'), /CPU check/);
});

test('the command records each run and appends the comparison to the section', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-history-'));
  const file = join(dir, 'section.md');
  const history = join(dir, 'history.tsv');
  const run = (id, commit, extra = []) => execFileSync(process.execPath,
    [script, '--section', 'Glass-to-glass', '--history', history, '--commit', commit, '--run', id, ...extra, file],
    { encoding: 'utf8' });

  writeFileSync(file, section());
  run('2026-11-22T10:00Z', 'aaa', ['--record-only']);
  assert.equal(readFileSync(file, 'utf8'), section(), '--record-only leaves the section alone');
  const lines = readFileSync(history, 'utf8').trim().split('\n');
  assert.equal(lines[0], HISTORY_HEADER);
  assert.equal(lines.length, 1 + measurements(section()).length);

  writeFileSync(file, section({ cpu: '15.0' }));
  const out = run('2026-11-23T10:00Z', 'bbb', ['--speed', '130']);
  assert.match(out, /CPU check ran at 130 images\/s \(the previous run has none\)/);
  assert.match(readFileSync(history, 'utf8'), /\tmachine\tCPU check: cjpeg 1080p images\/s, one core\thigher\t130\n$/);
  assert.match(out, /\(2026-11-22T10:00Z, aaa; every run is in `.*history.tsv`\)/);
  assert.match(out, /\| 1280x720 · 1 \| \*\*worse\*\* \| server CPU %: 11.9 → 15.0 \|/);
  const written = readFileSync(file, 'utf8');
  assert.ok(written.startsWith(section({ cpu: '15.0' })));
  assert.ok(written.endsWith(out));
  // The next run compares against this one, not the first.
  writeFileSync(file, section({ cpu: '15.0' }));
  assert.match(run('2026-11-24T10:00Z', 'ccc', ['--speed', '260']),
    /\(2026-11-23T10:00Z, bbb;.*none moved.* 260 images\/s against 130 then \(\+100 %\)/);
  assert.throws(() => run('2026-11-24T11:00Z', 'ccc', ['--speed', 'fast']), /--speed wants a positive number/);

  // A file without tables is an error, and nothing is recorded.
  const before = readFileSync(history, 'utf8');
  writeFileSync(file, 'no tables here\n');
  assert.throws(() => run('2026-11-25T10:00Z', 'ddd'), /no measured cells/);
  assert.equal(readFileSync(history, 'utf8'), before);
});
