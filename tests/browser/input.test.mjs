// input.test.mjs — Node unit tests (node --test) of the pure input logic behind the UI:
// relative-motion batching (pointer.js), wheel step maths (pointer.js), the special-keys
// table and its key sequences (keys-menu.js), and the paste box's message splitting, layout
// default and error attribution (paste.js). No browser needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitMotion, RelMotion, WheelStepper, REL_MAX, REL_STEPS_PER_SEND } from '../../frontend/src/pointer.js';
import { KEY_GROUPS, comboById, comboMessages } from '../../frontend/src/keys-menu.js';
import {
  textMessages,
  defaultLayout,
  isPasteError,
  MAX_MESSAGE_BYTES,
  PASTE_ERROR_MS,
} from '../../frontend/src/paste.js';

// ===== relative motion =====

test('splitMotion: small moves are one message, none for no motion', () => {
  assert.deepEqual(splitMotion(0, 0), []);
  assert.deepEqual(splitMotion(5, -3), [[5, -3]]);
  assert.deepEqual(splitMotion(127, -127), [[127, -127]]);
});

test('splitMotion: big moves are split evenly, every step within ±127, sums exact', () => {
  assert.deepEqual(splitMotion(300, 0), [[100, 0], [100, 0], [100, 0]]);
  assert.deepEqual(splitMotion(128, 0), [[64, 0], [64, 0]]);
  for (const [dx, dy] of [[1000, -1], [-255, 254], [17, -900], [-128, 0]]) {
    const steps = splitMotion(dx, dy);
    assert.equal(steps.length, Math.ceil(Math.max(Math.abs(dx), Math.abs(dy)) / REL_MAX));
    for (const [sx, sy] of steps) {
      assert.ok(Math.abs(sx) <= REL_MAX && Math.abs(sy) <= REL_MAX, `${sx},${sy}`);
      assert.ok(Number.isInteger(sx) && Number.isInteger(sy));
    }
    assert.equal(steps.reduce((a, [x]) => a + x, 0), dx);
    assert.equal(steps.reduce((a, [, y]) => a + y, 0), dy);
  }
});

test('RelMotion batches movement between frames and keeps fractions', () => {
  const m = new RelMotion();
  assert.equal(m.pending, false);
  m.add(0.6, -0.4);
  assert.equal(m.pending, false); // under a pixel: nothing to send yet
  m.add(0.6, -0.8);
  assert.equal(m.pending, true);
  assert.deepEqual(m.take(), [[1, -1]]);
  m.add(0.8, 0.2); // 0.2 + 0.8 = 1.0 left over from before, -0.2 + 0.2 = 0
  assert.deepEqual(m.take(), [[1, 0]]);
  for (let i = 0; i < 10; i++) m.add(40, -5); // 400, -50 in one frame
  const steps = m.take();
  assert.deepEqual(steps, [[100, -12], [100, -13], [100, -12], [100, -13]]);
  assert.deepEqual(m.take(), []);
  m.add(NaN, undefined); // events without movement fields change nothing
  assert.deepEqual(m.take(), []);
});

test('RelMotion sends at most REL_STEPS_PER_SEND steps at once; the rest follows', () => {
  const m = new RelMotion();
  m.add(-1200, 130); // 10 steps' worth on x
  const first = m.take();
  assert.equal(first.length, REL_STEPS_PER_SEND);
  assert.equal(first.reduce((a, [x]) => a + x, 0), -REL_MAX * REL_STEPS_PER_SEND);
  assert.equal(first.reduce((a, [, y]) => a + y, 0), 130);
  assert.ok(m.pending);
  let rest = [];
  while (m.pending) rest = rest.concat(m.take());
  assert.equal(rest.reduce((a, [x]) => a + x, 0), -1200 + REL_MAX * REL_STEPS_PER_SEND);
  assert.equal(rest.reduce((a, [, y]) => a + y, 0), 0);
});

// ===== wheel =====

test('wheel: one mouse notch (100 px) down is dy -1, up is dy +1', () => {
  const w = new WheelStepper();
  assert.deepEqual(w.message({ deltaX: 0, deltaY: 100, deltaMode: 0 }, 0), { type: 'wheel', dx: 0, dy: -1 });
  assert.deepEqual(w.message({ deltaX: 0, deltaY: -100, deltaMode: 0 }, 1000), { type: 'wheel', dx: 0, dy: 1 });
  assert.deepEqual(w.message({ deltaX: 100, deltaY: 0, deltaMode: 0 }, 2000), { type: 'wheel', dx: 1, dy: 0 });
});

test('wheel: touchpad deltas add up within a gesture; the first always scrolls', () => {
  const w = new WheelStepper();
  assert.deepEqual(w.message({ deltaX: 0, deltaY: 4, deltaMode: 0 }, 0), { type: 'wheel', dx: 0, dy: -1 });
  let got = null;
  let t = 10;
  for (let i = 0; i < 24; i++, t += 10) got = w.message({ deltaX: 0, deltaY: 4, deltaMode: 0 }, t) ?? got;
  assert.equal(got, null); // 96 px: not yet a step
  assert.deepEqual(w.message({ deltaX: 0, deltaY: 4, deltaMode: 0 }, t), { type: 'wheel', dx: 0, dy: -1 });
});

test('wheel: lines and pages are one step per event; big pixel deltas cap at 3', () => {
  const w = new WheelStepper();
  assert.equal(w.steps('y', 3, 1, 0), 1);
  assert.equal(w.steps('y', -1, 2, 0), -1);
  assert.equal(w.steps('y', 1000, 0, 0), 3);
  assert.equal(w.steps('y', 0, 0, 0), 0);
});

// ===== special keys =====

test('Ctrl+Alt+Del is ControlLeft, AltLeft, Delete down, then up in reverse', () => {
  assert.deepEqual(comboMessages(comboById('ctrl-alt-del').codes), [
    { type: 'key', code: 'ControlLeft', down: true },
    { type: 'key', code: 'AltLeft', down: true },
    { type: 'key', code: 'Delete', down: true },
    { type: 'key', code: 'Delete', down: false },
    { type: 'key', code: 'AltLeft', down: false },
    { type: 'key', code: 'ControlLeft', down: false },
  ]);
});

test('the special-keys table: unique ids, known codes, the entries users reach for', () => {
  const ids = KEY_GROUPS.flatMap((g) => g.items.map((i) => i.id));
  assert.equal(new Set(ids).size, ids.length, 'duplicate ids');
  const code = /^(Key[A-Z]|F([1-9]|1[0-2])|(Control|Alt|Shift|Meta)Left|Delete|Backspace|Tab|Escape|PrintScreen|Pause|ContextMenu|Insert|CapsLock|NumLock|ScrollLock)$/;
  for (const g of KEY_GROUPS) {
    for (const i of g.items) for (const c of i.codes) assert.match(c, code, `${i.id}: ${c}`);
  }
  for (const id of ['ctrl-alt-del', 'alt-tab', 'alt-f4', 'print-screen', 'meta', 'escape']) {
    assert.ok(comboById(id), id);
  }
  for (let n = 1; n <= 12; n++) {
    assert.deepEqual(comboById(`f${n}`).codes, [`F${n}`]);
    assert.deepEqual(comboById(`ctrl-alt-f${n}`).codes, ['ControlLeft', 'AltLeft', `F${n}`]);
  }
  assert.equal(comboById('nope'), null);
});

// ===== paste =====

test('paste: one message with the layout; CRLF becomes LF; empty text sends nothing', () => {
  assert.deepEqual(textMessages('Hi', 'de'), [{ type: 'text', text: 'Hi', layout: 'de' }]);
  assert.deepEqual(textMessages('a\r\nb\rc', 'us'), [{ type: 'text', text: 'a\nb\nc', layout: 'us' }]);
  assert.deepEqual(textMessages('', 'us'), []);
});

test('paste: long text is split under the message limit, never inside a character', () => {
  const text = 'ab"\\\n€😀'.repeat(3000); // quotes, escapes, 3- and 4-byte UTF-8
  const msgs = textMessages(text, 'us');
  assert.ok(msgs.length > 1);
  const bytes = (m) => new TextEncoder().encode(JSON.stringify(m)).length;
  for (const m of msgs) assert.ok(bytes(m) <= MAX_MESSAGE_BYTES, `${bytes(m)} bytes`);
  assert.equal(msgs.map((m) => m.text).join(''), text);
  for (const m of msgs) assert.ok(!/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(m.text), 'split a surrogate pair');
  const small = textMessages('abcdef', 'us', JSON.stringify({ type: 'text', text: '', layout: 'us' }).length + 2);
  assert.deepEqual(small.map((m) => m.text), ['ab', 'cd', 'ef']);
});

test('paste: the layout defaults to the server keyboard_layout, else us', () => {
  assert.equal(defaultLayout({ keyboard_layout: 'de' }), 'de');
  assert.equal(defaultLayout({}), 'us');
  assert.equal(defaultLayout(null), 'us');
  assert.equal(defaultLayout({ keyboard_layout: '' }), 'us');
});

test('paste: errors about layouts, or soon after a paste, belong to the paste box', () => {
  assert.ok(isPasteError('the us layout cannot type "é"', null, 0));
  assert.ok(isPasteError('malformed message: unknown keyboard layout "xx"', null, 0));
  assert.ok(isPasteError('hid worker stopped', 1000, 1000 + PASTE_ERROR_MS));
  assert.ok(!isPasteError('hid worker stopped', 1000, 1001 + PASTE_ERROR_MS));
  assert.ok(!isPasteError('unknown key code "Foo"', null, 0));
});
