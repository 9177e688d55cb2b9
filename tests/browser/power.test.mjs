// power.test.mjs — Node unit tests (node --test) of the Power menu's pure logic
// (frontend/src/power.js): /api/atx and /api/gpio state → what the menu shows, the request
// each action sends (path and JSON body, `"confirm": true` after the dialog), which actions
// ask first, the dialog's text and the result line (the API's `error` text on 409/429/…).
// No browser needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ATX_ACTIONS,
  POLL_MS,
  ledText,
  panelModel,
  targetKey,
  actionRequest,
  needsConfirm,
  actionName,
  confirmPrompt,
  resultLine,
} from '../../frontend/src/power.js';

const ATX = { enabled: true, power: true, reset: true, power_led: true, busy: false, short_ms: 500, long_ms: 5500 };
const GPIO = {
  buttons: [
    { name: 'maint', label: 'Maintenance script', action: 'pulse', confirm: true, state: null, busy: false },
    { name: 'lamp', label: 'Rack lamp', action: 'on', confirm: false, state: false, busy: false },
    { name: 'fan', label: 'Fan', action: 'off', confirm: false, state: true, busy: true },
  ],
  wol: true,
};

test('the poll period is 2 s and the ATX actions are power, power_long, reset', () => {
  assert.equal(POLL_MS, 2000);
  assert.deepEqual(ATX_ACTIONS.map((a) => [a.id, a.label]), [
    ['power', 'Power'],
    ['power_long', 'Force off'],
    ['reset', 'Reset'],
  ]);
});

test('ledText: true/false/null as on/off/unknown', () => {
  assert.equal(ledText(true), 'on');
  assert.equal(ledText(false), 'off');
  assert.equal(ledText(null), 'unknown');
  assert.equal(ledText(undefined), 'unknown');
});

test('panelModel: hidden when nothing is configured or nothing answered', () => {
  assert.equal(panelModel(null, null).visible, false);
  assert.equal(panelModel({ enabled: false }, { buttons: [], wol: false }).visible, false);
  assert.equal(panelModel({ enabled: false }, { buttons: [], wol: true }).visible, true);
  assert.equal(panelModel({ enabled: true, power: true }, null).visible, true);
  const onlyButtons = panelModel({ enabled: false }, { buttons: [GPIO.buttons[0]], wol: false });
  assert.equal(onlyButtons.visible, true);
  assert.equal(onlyButtons.atx.visible, false);
  assert.equal(onlyButtons.wol.visible, false);
  assert.ok(onlyButtons.atx.actions.every((a) => !a.visible && a.disabled));
});

test('panelModel: the LED, the ATX parts configured, switches and pulse buttons', () => {
  const m = panelModel(ATX, GPIO);
  assert.equal(m.visible, true);
  assert.equal(m.atx.led, 'on');
  assert.equal(panelModel({ ...ATX, power_led: false }, GPIO).atx.led, 'off');
  assert.equal(panelModel({ ...ATX, power_led: null }, GPIO).atx.led, 'unknown');
  assert.deepEqual(m.atx.actions.map((a) => [a.id, a.visible, a.disabled]), [
    ['power', true, false],
    ['power_long', true, false],
    ['reset', true, false],
  ]);
  const noReset = panelModel({ ...ATX, reset: false }, GPIO);
  assert.deepEqual(noReset.atx.actions.map((a) => a.visible), [true, true, false]);
  const noPower = panelModel({ ...ATX, power: false }, GPIO);
  assert.deepEqual(noPower.atx.actions.map((a) => a.visible), [false, false, true]);
  assert.deepEqual(
    m.buttons.map((b) => [b.name, b.label, b.kind, b.state, b.confirm, b.busy, b.disabled]),
    [
      ['maint', 'Maintenance script', 'pulse', 'unknown', true, false, false],
      ['lamp', 'Rack lamp', 'switch', 'off', false, false, false],
      ['fan', 'Fan', 'switch', 'on', false, true, true], // busy on the server: disabled
    ],
  );
  assert.deepEqual(m.wol, { visible: true, busy: false, disabled: false });
});

test('panelModel: a button without a label shows its name; junk entries are skipped', () => {
  const m = panelModel(null, { buttons: [{ name: 'x', label: ' ', action: 'pulse' }, null, { label: 'no name' }] });
  assert.deepEqual(m.buttons.map((b) => [b.name, b.label]), [['x', 'x']]);
});

test('panelModel: busy on the server or pending in this page disables that target only', () => {
  const busy = panelModel({ ...ATX, busy: true }, GPIO);
  assert.equal(busy.atx.busy, true);
  assert.ok(busy.atx.actions.every((a) => a.disabled), 'power and reset share the front panel');
  assert.equal(busy.buttons[0].disabled, false);

  const pending = panelModel(ATX, GPIO, { pending: new Set(['button:maint', 'wol']) });
  assert.equal(pending.atx.busy, false);
  assert.equal(pending.buttons[0].busy, true);
  assert.equal(pending.buttons[0].disabled, true);
  assert.equal(pending.buttons[1].disabled, false);
  assert.deepEqual(pending.wol, { visible: true, busy: true, disabled: true });
  assert.ok(panelModel(ATX, GPIO, { pending: new Set(['atx']) }).atx.actions.every((a) => a.disabled));
});

test('panelModel: a view-only session sees the state, every control disabled', () => {
  const m = panelModel(ATX, GPIO, { viewOnly: true });
  assert.equal(m.visible, true);
  assert.equal(m.viewOnly, true);
  assert.equal(m.atx.led, 'on');
  assert.ok(m.atx.actions.every((a) => a.visible && a.disabled));
  assert.ok(m.buttons.every((b) => b.disabled));
  assert.deepEqual(m.buttons.map((b) => b.state), ['unknown', 'off', 'on']);
  assert.equal(m.wol.disabled, true);
});

test('targetKey: power and reset share the front panel; each button is its own', () => {
  assert.equal(targetKey({ kind: 'atx', id: 'power' }), 'atx');
  assert.equal(targetKey({ kind: 'atx', id: 'reset' }), 'atx');
  assert.equal(targetKey({ kind: 'button', name: 'lamp', action: 'on' }), 'button:lamp');
  assert.equal(targetKey({ kind: 'wol' }), 'wol');
});

test('actionRequest: paths and bodies', () => {
  assert.deepEqual(actionRequest({ kind: 'atx', id: 'power' }), { path: '/api/atx/power', body: null });
  assert.deepEqual(actionRequest({ kind: 'atx', id: 'power_long' }), { path: '/api/atx/power_long', body: null });
  assert.deepEqual(actionRequest({ kind: 'atx', id: 'reset' }), { path: '/api/atx/reset', body: null });
  assert.throws(() => actionRequest({ kind: 'atx', id: 'shutdown' }), /no ATX action/);
  assert.deepEqual(actionRequest({ kind: 'wol' }), { path: '/api/wol', body: null });
  assert.deepEqual(actionRequest({ kind: 'button', name: 'lamp', action: 'on' }), {
    path: '/api/gpio/lamp',
    body: { action: 'on' },
  });
  assert.deepEqual(actionRequest({ kind: 'button', name: 'lamp', action: 'off' }).body, { action: 'off' });
  // A confirmed press says so; an unconfirmed one carries no `confirm` at all.
  assert.deepEqual(actionRequest({ kind: 'button', name: 'maint', action: 'pulse', confirm: true }), {
    path: '/api/gpio/maint',
    body: { action: 'pulse', confirm: true },
  });
  assert.equal('confirm' in actionRequest({ kind: 'button', name: 'maint', action: 'pulse' }).body, false);
  assert.equal(actionRequest({ kind: 'button', name: 'a b/c' }).path, '/api/gpio/a%20b%2Fc');
  assert.equal(JSON.stringify(actionRequest({ kind: 'button', name: 'x', action: 'pulse', confirm: true }).body),
    '{"action":"pulse","confirm":true}');
});

test('needsConfirm: ATX and Wake-on-LAN always; buttons as configured', () => {
  for (const a of ATX_ACTIONS) assert.equal(needsConfirm({ kind: 'atx', id: a.id }), true);
  assert.equal(needsConfirm({ kind: 'wol' }), true);
  assert.equal(needsConfirm({ kind: 'button', name: 'maint' }, GPIO.buttons[0]), true);
  assert.equal(needsConfirm({ kind: 'button', name: 'lamp' }, GPIO.buttons[1]), false);
  assert.equal(needsConfirm({ kind: 'button', name: 'gone' }, undefined), false);
});

test('actionName and confirmPrompt name the action', () => {
  assert.equal(actionName({ kind: 'atx', id: 'power_long' }), 'Force off');
  assert.equal(actionName({ kind: 'wol' }), 'Wake-on-LAN');
  assert.equal(actionName({ kind: 'button', name: 'maint', action: 'pulse' }, GPIO.buttons[0]), 'Maintenance script');
  assert.equal(actionName({ kind: 'button', name: 'lamp', action: 'on' }, GPIO.buttons[1]), 'Rack lamp: on');
  const p = confirmPrompt({ kind: 'atx', id: 'power_long' });
  assert.equal(p.title, 'Force off?');
  assert.match(p.text, /forced off/);
  assert.equal(confirmPrompt({ kind: 'atx', id: 'reset' }).title, 'Reset?');
  assert.equal(confirmPrompt({ kind: 'wol' }).title, 'Wake-on-LAN?');
  const b = confirmPrompt({ kind: 'button', name: 'maint', action: 'pulse' }, GPIO.buttons[0]);
  assert.equal(b.title, 'Maintenance script?');
  assert.match(b.text, /presses "Maintenance script"/);
  assert.match(confirmPrompt({ kind: 'button', name: 'lamp', action: 'off' }, GPIO.buttons[1]).text, /switches "Rack lamp" off/);
});

test('resultLine: success, a command\'s exit, and the API\'s error text', () => {
  assert.deepEqual(resultLine('Power', 200, { ok: true, done: {} }), { ok: true, text: 'Power: done' });
  assert.deepEqual(
    resultLine('Maintenance script', 200, { ok: true, done: { command: { exit_code: 0, timed_out: false, stdout: 'pressed\nmore\n', stderr: '' } } }),
    { ok: true, text: 'Maintenance script: done (exit 0) — pressed' },
  );
  assert.deepEqual(
    resultLine('X', 200, { ok: true, done: { command: { exit_code: 3, timed_out: false, stdout: '', stderr: 'no such host\n' } } }),
    { ok: false, text: 'X: failed (exit 3) — no such host' },
  );
  assert.deepEqual(
    resultLine('X', 200, { ok: true, done: { command: { exit_code: null, timed_out: true, stdout: '', stderr: '' } } }),
    { ok: false, text: 'X: the command timed out' },
  );
  assert.deepEqual(resultLine('X', 200, { ok: true, done: { command: { exit_code: null, timed_out: false, stdout: '', stderr: '' } } }),
    { ok: false, text: 'X: failed (killed by a signal)' });
  const tooSoon = { error: 'atx front panel: at most one action per 1000 ms' };
  assert.deepEqual(resultLine('Reset', 429, tooSoon), { ok: false, text: `Reset: ${tooSoon.error}` });
  const busy = { error: 'button maint is busy with an earlier action' };
  assert.deepEqual(resultLine('M', 409, busy), { ok: false, text: `M: ${busy.error}` });
  assert.deepEqual(resultLine('M', 403, { error: 'view-only session: log in as admin to control' }).ok, false);
  assert.deepEqual(resultLine('M', 502, null), { ok: false, text: 'M: HTTP 502' });
  assert.deepEqual(resultLine('M', 0, null), { ok: false, text: 'M: cannot reach the appliance' });
  assert.equal(resultLine('M', 200, { error: 'odd' }).ok, false, 'a 200 without ok is not a success');
});
