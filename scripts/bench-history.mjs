#!/usr/bin/env node
// bench-history.mjs — makes benchmark regressions visible. scripts/bench runs it on each
// section it writes to docs/BENCHMARKS.md: it reads the section's Markdown tables, appends
// every measured cell to the history file (docs/bench-history.tsv: run, commit, section, row,
// column, value), and adds to the section a table of the cells that moved beyond the noise
// since that section's previous run, worse first.
//
// Usage: node scripts/bench-history.mjs --section NAME --history FILE --commit C
//          [--run ID] [--speed N] [--record-only] SECTION.md
//   Rewrites SECTION.md with the comparison added (unless --record-only) and appends the
//   section's cells to FILE. ID (default: now, UTC, to the minute) names the run. N is
//   the machine's speed at a fixed CPU check measured in the same run (scripts/bench:
//   cjpeg images/s on one core): this machine's speed varies from day to day by more than the
//   noise, and the report sets each run's speed beside the last one's so that a cell which
//   moved with the machine can be told from one that moved with the code.
//
// Which cells count is read from each table's header (see columnKind): latency, CPU, memory
// and encode time are better lower; frames/s better higher; yes/no and met/not met columns
// are targets; other columns name the row. A numeric cell moved when it changed by more
// than NOISE_REL of its old value and more than NOISE_ABS units: runs on this machine differ
// by that much on their own (docs/BENCHMARKS.md, Notes).

import { readFileSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** A change smaller than this share of the old value is noise. */
export const NOISE_REL = 0.2;
/** A change of at most this many units (ms, %, MiB, frames/s) is noise. */
export const NOISE_ABS = 1;

/** Columns that are neither a measurement of periscope nor part of the row's name. */
const SKIP = /measured|Mbit|kbit|KB\/frame|IDRs|keyframes seen|new frames|load CPU|low rung/i;
/** Columns where more is better. */
const HIGHER = /frames\/s|\bfps\b|f\/s|encoded\/s|sent\/s/i;
/** Columns where less is better. */
const LOWER = /\bms\b|CPU|RSS|MiB|\bMB\b|latency|reaches|displayed|decoded|added|busy|capture→|encoded→/i;
/** The history's row and column for the machine's speed at the CPU check. */
export const SPEED_ROW = 'machine';
export const SPEED_COLUMN = 'CPU check: cjpeg 1080p images/s, one core';
/** Target cells: a pass and a fail. */
const PASS = new Set(['yes', 'met']);
const FAIL = new Set(['no', 'not met']);

/** The tables in a Markdown text: [{header: [..], rows: [[..]]}], cells trimmed. */
export function parseTables(markdown) {
  const tables = [];
  const lines = markdown.split('\n');
  const cells = (line) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i].trim().startsWith('|') || !/^\s*\|\s*:?-{3}/.test(lines[i + 1])) continue;
    const header = cells(lines[i]);
    const rows = [];
    let j = i + 2;
    for (; j < lines.length && lines[j].trim().startsWith('|'); j++) rows.push(cells(lines[j]));
    tables.push({ header, rows });
    i = j - 1;
  }
  return tables;
}

/** A target cell as 'pass', 'fail' or null (bold and the like stripped). */
function verdict(cell) {
  const t = cell.replace(/\*/g, '').trim().toLowerCase();
  if (PASS.has(t)) return 'pass';
  if (FAIL.has(t)) return 'fail';
  return null;
}

/** True when a cell holds nothing measured: empty or a dash. */
const blank = (cell) => /^[—–-]?$/.test(cell.trim());

/**
 * What a column is: 'target' (every cell yes/no or met/not met), 'skip', 'higher' or
 * 'lower' (a measurement and which way is better) or 'key' (names the row).
 */
export function columnKind(header, cells) {
  const filled = cells.filter((c) => !blank(c));
  if (filled.length > 0 && filled.every((c) => verdict(c) !== null)) return 'target';
  if (SKIP.test(header)) return 'skip';
  if (HIGHER.test(header)) return 'higher';
  if (LOWER.test(header)) return 'lower';
  return 'key';
}

/** The numbers of a measured cell, before any bracketed detail: "10 / 23 [11, 12]" → [10, 23]. */
export function numbers(cell) {
  return (cell.split('[')[0].match(/-?\d+(?:\.\d+)?/g) || []).map(Number);
}

/**
 * Every measured cell of a section: [{row, column, kind, value}]. A row is named by its key
 * cells joined with " · " (a repeated name gets " (2)", " (3)" …), a column by its header
 * (a repeated header gets " (2)" …). value is the cell as written, bracketed detail dropped.
 */
export function measurements(markdown) {
  const out = [];
  const seenRows = new Map();
  for (const { header, rows } of parseTables(markdown)) {
    const seenCols = new Map();
    const names = header.map((h) => {
      const n = (seenCols.get(h) || 0) + 1;
      seenCols.set(h, n);
      return n === 1 ? h : `${h} (${n})`;
    });
    const kinds = header.map((h, c) => columnKind(h, rows.map((r) => r[c] ?? '')));
    for (const r of rows) {
      const base = kinds.map((k, c) => (k === 'key' ? r[c] : null)).filter((c) => c).join(' · ');
      const n = (seenRows.get(base) || 0) + 1;
      seenRows.set(base, n);
      const row = n === 1 ? base : `${base} (${n})`;
      kinds.forEach((kind, c) => {
        const cell = r[c] ?? '';
        if (kind === 'key' || kind === 'skip' || blank(cell)) return;
        if (kind === 'target' && verdict(cell) === null) return;
        if (kind !== 'target' && numbers(cell).length === 0) return;
        const value = kind === 'target' ? verdict(cell) === 'pass' ? 'met' : 'not met' : cell.split('[')[0].trim();
        out.push({ row, column: names[c], kind, value });
      });
    }
  }
  return out;
}

/** True when a numeric change from a to b is beyond the noise. */
const moved = (a, b) => Math.abs(b - a) > NOISE_ABS && Math.abs(b - a) > NOISE_REL * Math.abs(a);

/**
 * The cells that moved between two runs of a section (each a measurements() list):
 * [{row, column, before, now, change: 'worse' | 'better'}], worse first, and how many cells
 * both runs have. A numeric cell is worse when any of its numbers moved the wrong way
 * (and better when some moved the right way and none the wrong); a target, when it flips.
 */
export function compare(previous, current) {
  const before = new Map(previous.map((m) => [`${m.row}\t${m.column}`, m]));
  const changes = [];
  let compared = 0;
  for (const m of current) {
    if (m.row === SPEED_ROW) continue;
    const p = before.get(`${m.row}\t${m.column}`);
    if (!p || p.kind !== m.kind) continue;
    compared++;
    let change = null;
    if (m.kind === 'target') {
      if (p.value !== m.value) change = m.value === 'met' ? 'better' : 'worse';
    } else {
      const a = numbers(p.value);
      const b = numbers(m.value);
      if (a.length !== b.length) continue;
      const sign = m.kind === 'lower' ? 1 : -1;
      const worse = a.some((x, i) => moved(x, b[i]) && sign * (b[i] - x) > 0);
      const better = a.some((x, i) => moved(x, b[i]) && sign * (b[i] - x) < 0);
      change = worse ? 'worse' : better ? 'better' : null;
    }
    if (change) changes.push({ row: m.row, column: m.column, before: p.value, now: m.value, change });
  }
  changes.sort((x, y) => (x.change === y.change ? 0 : x.change === 'worse' ? -1 : 1));
  return { changes, compared };
}

/** History lines (TSV with a header) → [{run, commit, section, row, column, kind, value}]. */
export function parseHistory(tsv) {
  return tsv.split('\n').slice(1).filter((l) => l.trim()).map((l) => {
    const [run, commit, section, row, column, kind, value] = l.split('\t');
    return { run, commit, section, row, column, kind, value };
  });
}

export const HISTORY_HEADER = 'run\tcommit\tsection\trow\tcolumn\tkind\tvalue';

/** A section's cells as history lines (tabs and newlines in cells become spaces). */
export function historyLines(run, commit, section, cells) {
  const clean = (s) => String(s).replace(/[\t\n]/g, ' ');
  return cells.map((m) => [run, commit, section, m.row, m.column, m.kind, m.value].map(clean).join('\t'));
}

/** The latest run of a section in the history: {run, commit, cells} or null. */
export function previousRun(history, section) {
  const mine = history.filter((h) => h.section === section);
  if (mine.length === 0) return null;
  const last = mine[mine.length - 1];
  return { run: last.run, commit: last.commit, cells: mine.filter((h) => h.run === last.run && h.commit === last.commit) };
}

/** The machine's speed recorded among a run's cells, as a number, or null. */
export function speedOf(cells) {
  const m = cells.find((c) => c.row === SPEED_ROW && c.column === SPEED_COLUMN);
  return m ? numbers(m.value)[0] ?? null : null;
}

/** The sentence on the machine's speed now and at the previous run. */
function speedSentence(prevSpeed, speed) {
  if (speed === null) return '';
  if (prevSpeed === null) return ` The machine's CPU check ran at ${speed} images/s (the previous run has none).`;
  const pct = Math.round(((speed - prevSpeed) / prevSpeed) * 100);
  return ` The machine's CPU check (cjpeg, one core) ran at ${speed} images/s against ${prevSpeed} then `
    + `(${pct >= 0 ? '+' : '−'}${Math.abs(pct)} %): a cell that moved by about as much moved with the machine.`;
}

/**
 * The Markdown paragraph (and table) that reports a comparison. prev and speed come from
 * previousRun() and the current run's CPU check (or null).
 */
export function renderChanges(prev, result, historyPath, speed = null) {
  if (!prev) {
    return `**Since the previous run:** this is the first run of this section recorded in \`${historyPath}\`; the next one shows what moved.${speedSentence(null, speed).replace(' (the previous run has none)', '')}\n`;
  }
  const { changes, compared } = result;
  const worse = changes.filter((c) => c.change === 'worse').length;
  const better = changes.length - worse;
  const rule = `beyond ${Math.round(NOISE_REL * 100)} % and ${NOISE_ABS} unit`;
  const machine = speedSentence(speedOf(prev.cells ?? []), speed);
  let text = `**Since the previous run** (${prev.run}, ${prev.commit}; every run is in \`${historyPath}\`): ${compared} cells compared, `;
  if (changes.length === 0) return `${text}none moved ${rule}.${machine}\n`;
  text += `${worse} worse and ${better} better ${rule} (targets: any flip).${machine}\n\n`;
  text += '| row | change | cells: before → now |\n|---|---|---|\n';
  const groups = new Map();
  for (const c of changes) {
    const key = `${c.change}\t${c.row}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(`${c.column}: ${c.before} → ${c.now}`);
  }
  for (const [key, cells] of groups) {
    const [change, row] = key.split('\t');
    text += `| ${row} | ${change === 'worse' ? '**worse**' : 'better'} | ${cells.join('; ')} |\n`;
  }
  return text;
}

function main(argv) {
  const opt = (name) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const section = opt('section');
  const historyPath = opt('history');
  const commit = opt('commit') || 'unknown';
  const run = opt('run') || `${new Date().toISOString().slice(0, 16)}Z`;
  const file = argv[argv.length - 1];
  if (!section || !historyPath || !file || file.startsWith('--') || !existsSync(file)) {
    console.error('usage: bench-history.mjs --section NAME --history FILE --commit C [--run ID] [--record-only] SECTION.md');
    return 2;
  }
  const markdown = readFileSync(file, 'utf8');
  const cells = measurements(markdown);
  if (cells.length === 0) {
    console.error(`bench-history: no measured cells in ${file}`);
    return 1;
  }
  const speed = opt('speed') === undefined ? null : Number(opt('speed'));
  if (speed !== null && !(speed > 0)) {
    console.error(`bench-history: --speed wants a positive number, got ${opt('speed')}`);
    return 2;
  }
  if (speed !== null) cells.push({ row: SPEED_ROW, column: SPEED_COLUMN, kind: 'higher', value: String(speed) });
  const history = existsSync(historyPath) ? parseHistory(readFileSync(historyPath, 'utf8')) : [];
  const prev = previousRun(history, section);
  if (!argv.includes('--record-only')) {
    const report = renderChanges(prev, prev ? compare(prev.cells, cells) : null, historyPath, speed);
    writeFileSync(file, `${markdown.replace(/\n*$/, '\n')}\n${report}`);
    process.stdout.write(report);
  }
  if (!existsSync(historyPath)) writeFileSync(historyPath, `${HISTORY_HEADER}\n`);
  appendFileSync(historyPath, `${historyLines(run, commit, section, cells).join('\n')}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) process.exitCode = main(process.argv.slice(2));
