// power.js — the front panel (docs/DEVICES.md): the server's power and reset buttons and
// power LED (GET /api/atx, POST /api/atx/{power|power_long|reset}), the configured buttons
// (GET /api/gpio, POST /api/gpio/{name}) and Wake-on-LAN (POST /api/wol), as the "Power"
// menu in the header.
//
// The menu is shown only when /api/atx says `enabled`, or /api/gpio lists buttons or `wol`.
// While the page is visible both are polled every POLL_MS (and right after an action), so the
// LED, the switches' states and what is busy stay live. Every ATX action, Wake-on-LAN, and
// each button configured with `confirm` asks first in a modal <dialog> (a confirmed button
// press carries `"confirm": true`). What the last action did, or the API's `error` text
// (409 busy, 429 too soon, 403 view only, …), is shown at the bottom of the menu. A view-only
// session sees the state; its controls are disabled.
//
// The pure parts — state → what to render (panelModel), the request for an action
// (actionRequest), the confirmation text (confirmPrompt) and the result line (resultLine) —
// are exported for tests (tests/browser/input.test.mjs); PowerPanel does the DOM and fetches.

import { requestJson } from './api.js';
import { askConfirm, el } from './dom.js';

/** Poll period of GET /api/atx and GET /api/gpio while the page is visible. */
export const POLL_MS = 2000;

/** The ATX actions, in the order shown: {id (the API's), label, part (configured in /api/atx), what a press does}. */
export const ATX_ACTIONS = [
  {
    id: 'power',
    label: 'Power',
    part: 'power',
    does: "Presses the remote server's power button briefly: it switches on, or is asked to shut down.",
  },
  {
    id: 'power_long',
    label: 'Force off',
    part: 'power',
    does: "Holds the remote server's power button down until it is forced off; unsaved work is lost.",
  },
  {
    id: 'reset',
    label: 'Reset',
    part: 'reset',
    does: "Presses the remote server's reset button: it restarts at once; unsaved work is lost.",
  },
];

/** A power LED value (true, false, null or missing) as `on`, `off` or `unknown`. */
export function ledText(value) {
  if (value === true) return 'on';
  if (value === false) return 'off';
  return 'unknown';
}

/**
 * What to render, from the last GET /api/atx (`atx`) and GET /api/gpio (`gpio`) bodies (null
 * when not answered), whether the session is view only, and the targets with a request of
 * this page under way (`pending`: a Set of target keys, see targetKey).
 *
 * → {visible, atx: {visible, led, busy, actions: [{id, label, visible, disabled}]},
 *    buttons: [{name, label, kind: 'pulse'|'switch', state, busy, confirm, disabled}],
 *    wol: {visible, busy, disabled}, viewOnly}
 */
export function panelModel(atx, gpio, { viewOnly = false, pending = new Set() } = {}) {
  const atxOn = !!atx?.enabled;
  const atxBusy = atxOn && (!!atx.busy || pending.has('atx'));
  const list = Array.isArray(gpio?.buttons) ? gpio.buttons : [];
  const buttons = list
    .filter((b) => b && typeof b.name === 'string')
    .map((b) => {
      const key = targetKey({ kind: 'button', name: b.name });
      const busy = !!b.busy || pending.has(key);
      return {
        name: b.name,
        label: typeof b.label === 'string' && b.label.trim() ? b.label : b.name,
        kind: b.action === 'on' || b.action === 'off' ? 'switch' : 'pulse',
        state: ledText(b.state),
        busy,
        confirm: !!b.confirm,
        disabled: viewOnly || busy,
      };
    });
  const wolOn = !!gpio?.wol;
  const wolBusy = wolOn && pending.has('wol');
  return {
    visible: atxOn || buttons.length > 0 || wolOn,
    viewOnly,
    atx: {
      visible: atxOn,
      led: ledText(atx?.power_led),
      busy: atxBusy,
      actions: ATX_ACTIONS.map((a) => {
        const visible = atxOn && !!atx[a.part];
        return { id: a.id, label: a.label, visible, disabled: !visible || viewOnly || atxBusy };
      }),
    },
    buttons,
    wol: { visible: wolOn, busy: wolBusy, disabled: !wolOn || viewOnly || wolBusy },
  };
}

/**
 * The key under which an action's target is busy: power and reset share the front panel
 * (`atx`), each button is its own (`button:NAME`), and `wol`.
 */
export function targetKey(target) {
  if (target.kind === 'atx') return 'atx';
  if (target.kind === 'button') return `button:${target.name}`;
  return 'wol';
}

/**
 * The request for an action → {path, body} (body: an object to send as JSON, or null for
 * none). Targets: {kind: 'atx', id}, {kind: 'button', name, action?, confirm?}, {kind: 'wol'}.
 * A button press names its action (`pulse`, `on`, `off`) and carries `"confirm": true` once
 * the user has confirmed.
 */
export function actionRequest(target) {
  if (target.kind === 'atx') {
    if (!ATX_ACTIONS.some((a) => a.id === target.id)) throw new Error(`no ATX action ${target.id}`);
    return { path: `/api/atx/${target.id}`, body: null };
  }
  if (target.kind === 'button') {
    const body = {};
    if (target.action) body.action = target.action;
    if (target.confirm) body.confirm = true;
    return { path: `/api/gpio/${encodeURIComponent(target.name)}`, body };
  }
  if (target.kind === 'wol') return { path: '/api/wol', body: null };
  throw new Error(`unknown target kind ${target.kind}`);
}

/** Whether an action asks first: every ATX press and Wake-on-LAN; a button when configured so. */
export function needsConfirm(target, button) {
  if (target.kind === 'atx' || target.kind === 'wol') return true;
  return !!button?.confirm;
}

/** The name an action goes by in the dialog and the result line. */
export function actionName(target, button) {
  if (target.kind === 'atx') return ATX_ACTIONS.find((a) => a.id === target.id)?.label ?? target.id;
  if (target.kind === 'wol') return 'Wake-on-LAN';
  const label = button?.label ?? target.name;
  return target.action && target.action !== 'pulse' ? `${label}: ${target.action}` : label;
}

/** The confirmation dialog's text → {title (the action's name), text (what it does)}. */
export function confirmPrompt(target, button) {
  const name = actionName(target, button);
  let text;
  if (target.kind === 'atx') {
    text = ATX_ACTIONS.find((a) => a.id === target.id)?.does ?? 'Presses a front-panel button of the remote server.';
  } else if (target.kind === 'wol') {
    text = 'This sends a Wake-on-LAN packet to the remote server.';
  } else if (target.action === 'on' || target.action === 'off') {
    text = `This switches "${button?.label ?? target.name}" ${target.action}.`;
  } else {
    text = `This presses "${button?.label ?? target.name}".`;
  }
  return { title: `${name}?`, text };
}

/**
 * The line shown after an action: {ok, text}. `status` is the HTTP status (0: no answer),
 * `body` the parsed JSON answer (or null). An error shows the API's `error` text; a command
 * that failed or timed out (`done.command`) is an error too.
 */
export function resultLine(name, status, body) {
  if (status === 200 && body?.ok) {
    const cmd = body.done?.command;
    if (!cmd) return { ok: true, text: `${name}: done` };
    if (cmd.timed_out) return { ok: false, text: `${name}: the command timed out` };
    const out = firstLine(cmd.exit_code === 0 ? cmd.stdout : cmd.stderr || cmd.stdout);
    const how = cmd.exit_code === null || cmd.exit_code === undefined ? 'killed by a signal' : `exit ${cmd.exit_code}`;
    const text = `${name}: ${cmd.exit_code === 0 ? 'done' : 'failed'} (${how})${out ? ` — ${out}` : ''}`;
    return { ok: cmd.exit_code === 0, text };
  }
  if (status === 0) return { ok: false, text: `${name}: cannot reach the appliance` };
  const error = typeof body?.error === 'string' && body.error ? body.error : `HTTP ${status}`;
  return { ok: false, text: `${name}: ${error}` };
}

function firstLine(text) {
  const line = String(text ?? '').split('\n').find((l) => l.trim());
  return line ? line.trim().slice(0, 200) : '';
}


export class PowerPanel {
  /**
   * @param {object} els  {menu: <details>, summaryLed, atx, led, atxButtons, buttons,
   *        buttonList, wol, wolButton, viewOnlyNote, message, dialog, dialogTitle,
   *        dialogText, dialogConfirm, dialogCancel}
   * @param {object} opts
   * @param {() => boolean} opts.viewOnly  whether the session may only watch
   * @param {(state: object) => void} [opts.onChange]  the last {atx, gpio, last} after each change
   */
  constructor(els, { viewOnly, onChange = () => {} }) {
    Object.assign(this, { els, viewOnly, onChange });
    this.atx = null;
    this.gpio = null;
    this.pending = new Set();
    this.last = null; // {ok, text}: the last result line
    this.timer = null;
    this.refreshing = null;
    this.structure = '';
    this.model = null;
    this.atxButtons = new Map();
    for (const a of ATX_ACTIONS) {
      const b = el('button', { type: 'button', textContent: a.label, title: a.does, dataset: { atx: a.id } });
      b.addEventListener('click', () => this.act({ kind: 'atx', id: a.id }));
      els.atxButtons.append(b);
      this.atxButtons.set(a.id, b);
    }
    els.wolButton.addEventListener('click', () => this.act({ kind: 'wol' }));
    els.dialogCancel.addEventListener('click', () => els.dialog.close('cancel'));
    els.dialogConfirm.addEventListener('click', () => els.dialog.close('confirm'));
    // Clicks outside the menu close it, except in its confirmation dialog.
    document.addEventListener('mousedown', (e) => {
      if (els.menu.open && !els.menu.contains(e.target) && !els.dialog.contains(e.target)) els.menu.open = false;
    });
    els.menu.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') els.menu.open = false;
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.timer) this.refresh();
    });
  }

  /** First look: shows the menu and keeps polling if anything is configured. */
  async start() {
    await this.refresh();
    const answered = this.atx !== null && this.gpio !== null;
    if (answered && !this.model.visible) return; // nothing configured (or no such API): stay hidden
    this.timer = setInterval(() => {
      if (document.visibilityState === 'visible') this.refresh();
    }, POLL_MS);
  }

  /** GET /api/atx and /api/gpio, then renders (one refresh at a time). */
  refresh() {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      const [atx, gpio] = await Promise.all([requestJson('GET', '/api/atx'), requestJson('GET', '/api/gpio')]);
      if (atx.status === 200) this.atx = atx.body;
      else if (atx.status === 404) this.atx = { enabled: false };
      if (gpio.status === 200) this.gpio = gpio.body;
      else if (gpio.status === 404) this.gpio = { buttons: [], wol: false };
      if (atx.status === 401 || gpio.status === 401) this.show(false, 'session expired: reload to sign in again');
      this.render();
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** Re-renders (e.g. after the session's role changed). */
  render() {
    const m = panelModel(this.atx, this.gpio, { viewOnly: this.viewOnly(), pending: this.pending });
    this.model = m;
    const els = this.els;
    els.menu.hidden = !m.visible;
    els.atx.hidden = !m.atx.visible;
    els.led.textContent = m.atx.led;
    els.led.dataset.state = m.atx.led;
    els.summaryLed.dataset.state = m.atx.visible ? m.atx.led : 'none';
    els.summaryLed.title = m.atx.visible ? `power LED: ${m.atx.led}` : '';
    els.atx.dataset.busy = String(m.atx.busy);
    for (const a of m.atx.actions) {
      const b = this.atxButtons.get(a.id);
      b.hidden = !a.visible;
      b.disabled = a.disabled;
    }
    els.buttons.hidden = m.buttons.length === 0;
    this.renderButtons(m.buttons);
    els.wol.hidden = !m.wol.visible;
    els.wolButton.disabled = m.wol.disabled;
    els.wol.dataset.busy = String(m.wol.busy);
    els.viewOnlyNote.hidden = !m.viewOnly;
    this.onChange({ atx: this.atx, gpio: this.gpio, last: this.last });
  }

  renderButtons(buttons) {
    const structure = JSON.stringify(buttons.map((b) => [b.name, b.label, b.kind]));
    if (structure !== this.structure) {
      this.structure = structure;
      this.els.buttonList.replaceChildren(...buttons.map((b) => this.buttonRow(b)));
    }
    for (const b of buttons) {
      const row = this.els.buttonList.querySelector(`[data-button="${CSS.escape(b.name)}"]`);
      if (!row) continue;
      row.dataset.busy = String(b.busy);
      row.dataset.state = b.state;
      row.querySelector('.power-busy').hidden = !b.busy;
      const state = row.querySelector('.power-state');
      if (state) {
        state.textContent = b.state;
        state.dataset.state = b.state;
      }
      for (const button of row.querySelectorAll('button')) {
        button.disabled = b.disabled;
        const action = button.dataset.action;
        if (action === 'on') button.setAttribute('aria-pressed', String(b.state === 'on'));
        if (action === 'off') button.setAttribute('aria-pressed', String(b.state === 'off'));
      }
    }
  }

  buttonRow(b) {
    const busy = el('span', { class: 'power-busy', textContent: 'busy…', hidden: true });
    const press = (action) => () => this.act({ kind: 'button', name: b.name, action });
    if (b.kind === 'pulse') {
      const button = el('button', {
        type: 'button',
        textContent: b.confirm ? `${b.label}…` : b.label,
        title: b.confirm ? `${b.label} (asks first)` : b.label,
        dataset: { action: 'pulse' },
      });
      button.addEventListener('click', press('pulse'));
      return el('div', { class: 'power-item', dataset: { button: b.name } }, button, busy);
    }
    const label = el('span', { class: 'power-label', textContent: b.label });
    const state = el('span', { class: 'power-state', textContent: b.state, title: `${b.label}: state as the device reports it` });
    const on = el('button', { type: 'button', textContent: 'On', dataset: { action: 'on' }, 'aria-pressed': 'false' });
    const off = el('button', { type: 'button', textContent: 'Off', dataset: { action: 'off' }, 'aria-pressed': 'false' });
    on.addEventListener('click', press('on'));
    off.addEventListener('click', press('off'));
    const group = el('span', { class: 'power-switch', role: 'group', 'aria-label': b.label }, on, off);
    return el('div', { class: 'power-item', dataset: { button: b.name } }, label, state, group, busy);
  }

  /** Carries out an action: asks first where it must, POSTs, shows the result, refreshes. */
  async act(target) {
    if (this.viewOnly()) return this.show(false, 'view-only session: log in as admin to control');
    const button = target.kind === 'button' ? this.gpio?.buttons?.find((b) => b.name === target.name) : null;
    const name = actionName(target, button);
    if (needsConfirm(target, button)) {
      if (!(await this.confirm(confirmPrompt(target, button)))) return this.show(true, `${name}: cancelled`);
      if (target.kind === 'button') target = { ...target, confirm: true };
    }
    const key = targetKey(target);
    const { path, body } = actionRequest(target);
    this.pending.add(key);
    this.show(true, `${name}: sending…`);
    this.render();
    const res = await requestJson('POST', path, body);
    this.pending.delete(key);
    const line = resultLine(name, res.status, res.body);
    this.show(line.ok, line.text);
    await this.refreshing; // one begun before the answer may hold the old state
    await this.refresh();
  }

  /** The shared confirmation dialog (dom.js `askConfirm`). */
  confirm(question) {
    return askConfirm(this.els, question);
  }

  show(ok, text) {
    this.last = { ok, text };
    const m = this.els.message;
    m.textContent = text;
    m.classList.toggle('error', !ok);
    m.hidden = !text;
    this.onChange({ atx: this.atx, gpio: this.gpio, last: this.last });
  }
}
