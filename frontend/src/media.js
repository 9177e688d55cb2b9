// media.js — virtual media (docs/DEVICES.md "Virtual media"): the images stored on the
// appliance (GET /api/msd), uploading one (PUT /api/msd/images/{name}, by XMLHttpRequest so a
// <progress> bar follows xhr.upload.onprogress), deleting one, attaching one to the USB
// mass-storage function as a CD-ROM or a (writable) disk, and ejecting it, as the "Media"
// menu in the header.
//
// The menu is shown when GET /api/msd answers. While the menu is open and the page visible,
// GET /api/msd is polled every POLL_MS (and right after each action). A file's name becomes
// the image's name with disallowed characters replaced by '_' (sanitizeName), and is checked
// against the server's rule (nameError) and the size against `max_bytes` before anything is
// sent. Delete and attaching as a disk ask first in the Power menu's modal <dialog>. The API's
// `error` text (404 no mass-storage function, 409, 413, 429, 403) is shown at the bottom of
// the menu. When `enabled` is false (no mass-storage function) images can still be uploaded,
// listed and deleted; a note says attaching needs one. A view-only session sees the list; its
// controls are disabled.
//
// The pure parts — name sanitising and checking, size formatting, the upload check, state →
// what to render (mediaModel), the requests (actionRequest), the dialog text and the result
// line — are exported for tests (tests/browser/media.test.mjs); MediaPanel does the DOM.

import { requestJson } from './api.js';
import { askConfirm, el } from './dom.js';

/** Poll period of GET /api/msd while the menu is open and the page visible. */
export const POLL_MS = 2000;

/** Longest image name the server accepts. */
export const MAX_NAME = 128;

/** How many hex digits of the SHA-256 are shown (the full value is in the title). */
export const SHORT_HASH = 16;

const ALLOWED = /^[A-Za-z0-9._-]$/;
const ALNUM = /^[A-Za-z0-9]$/;

/** Why `name` is not a valid image name (the server's rule, src/msd/mod.rs), or null. */
export function nameError(name) {
  const why = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128, no '..'";
  if (typeof name !== 'string' || name.length === 0) return 'an image needs a name';
  if (name.length > MAX_NAME) return `image name "${name.slice(0, 20)}…" is too long: ${why}`;
  if (!ALNUM.test(name[0]) || ![...name].every((c) => ALLOWED.test(c)) || name.includes('..')) {
    return `image name "${name}": ${why}`;
  }
  return null;
}

/**
 * The image name for a file name: each disallowed character becomes '_' (a non-ASCII
 * character counts as one), '..' becomes '._', leading characters that are not a letter or
 * digit are dropped, and the result is cut to 128 keeping the extension. '' → 'image'.
 */
export function sanitizeName(fileName) {
  let s = [...String(fileName ?? '')].map((c) => (ALLOWED.test(c) ? c : '_')).join('');
  while (s.includes('..')) s = s.replace(/\.\./g, '._');
  s = s.replace(/^[^A-Za-z0-9]+/, '');
  if (s.length > MAX_NAME) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : '';
    s = s.slice(0, MAX_NAME - ext.length) + ext;
    while (s.includes('..')) s = s.replace(/\.\./g, '._');
  }
  return s || 'image';
}

/** Bytes as text: `512 B`, `300 KiB`, `1.5 MiB`, `4.0 GiB` (binary units). */
export function formatSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** The shown part of a SHA-256 (first SHORT_HASH hex digits; '' when unknown). */
export function shortHash(sha256) {
  return typeof sha256 === 'string' ? sha256.slice(0, SHORT_HASH) : '';
}

/**
 * Whether a file may be uploaded as `name` → null, or the reason (bad name, over `max_bytes`,
 * the name already stored or being uploaded), from the last GET /api/msd body.
 */
export function uploadError(name, size, status) {
  const bad = nameError(name);
  if (bad) return bad;
  const max = Number(status?.max_bytes);
  if (Number.isFinite(max) && max > 0 && size > max) {
    return `${name} is ${formatSize(size)}: over the limit of ${formatSize(max)} (${max} bytes)`;
  }
  if ((status?.images ?? []).some((i) => i?.name === name)) return `${name} exists: delete it first`;
  if ((status?.uploads ?? []).some((u) => u?.name === name)) return `${name} is being uploaded`;
  return null;
}

/** The modes an image can be attached in: {mode (the API's), label, does}. */
export const MODES = [
  { mode: 'cdrom', label: 'CD-ROM', does: 'read-only' },
  { mode: 'disk', label: 'Disk', does: 'writable' },
];

/**
 * What to render, from the last GET /api/msd body (`status`, null when not answered), whether
 * the session is view only, whether an upload of this page runs, and the actions under way.
 *
 * → {visible, enabled, viewOnly, maxText, attached: {name, mode, label}|null,
 *    images: [{name, size, sha256, short, attached: null|'cdrom'|'disk', canDelete, canAttach, canEject}],
 *    uploads: [{name, received}], canUpload, note}
 */
export function mediaModel(status, { viewOnly = false, uploading = false, pending = false } = {}) {
  const visible = !!status && typeof status === 'object';
  const enabled = !!status?.enabled;
  const a = status?.attached;
  const attached = a && typeof a.name === 'string'
    ? { name: a.name, mode: a.mode, label: MODES.find((m) => m.mode === a.mode)?.label ?? String(a.mode) }
    : null;
  const busy = viewOnly || pending;
  const images = (Array.isArray(status?.images) ? status.images : [])
    .filter((i) => i && typeof i.name === 'string')
    .map((i) => {
      const here = attached?.name === i.name ? attached.mode : null;
      return {
        name: i.name,
        size: formatSize(i.size),
        bytes: Number(i.size),
        sha256: typeof i.sha256 === 'string' ? i.sha256 : '',
        short: shortHash(i.sha256),
        attached: here,
        canDelete: !busy && !here,
        // Without a mass-storage function the server answers 404 and says why: shown as is.
        canAttach: !busy && !attached,
        canEject: !busy && !!here,
      };
    });
  const uploads = (Array.isArray(status?.uploads) ? status.uploads : [])
    .filter((u) => u && typeof u.name === 'string')
    .map((u) => ({ name: u.name, received: formatSize(u.received) }));
  let note = '';
  if (visible && !enabled) note = 'attaching needs a USB mass-storage function ("mass_storage" in the profile\'s [usb] functions)';
  return {
    visible,
    enabled,
    viewOnly,
    maxText: Number.isFinite(Number(status?.max_bytes)) && status?.max_bytes ? formatSize(status.max_bytes) : '',
    attached,
    images,
    uploads,
    canUpload: visible && !viewOnly && !uploading,
    note,
  };
}

/**
 * The request for an action → {method, path, body}: {kind: 'attach', name, mode},
 * {kind: 'eject'}, {kind: 'delete', name}.
 */
export function actionRequest(action) {
  if (action.kind === 'attach') {
    if (!MODES.some((m) => m.mode === action.mode)) throw new Error(`no mode ${action.mode}`);
    return { method: 'POST', path: '/api/msd/attach', body: { name: action.name, mode: action.mode } };
  }
  if (action.kind === 'eject') return { method: 'POST', path: '/api/msd/eject', body: null };
  if (action.kind === 'delete') return { method: 'DELETE', path: `/api/msd/images/${encodeURIComponent(action.name)}`, body: null };
  throw new Error(`unknown media action ${action.kind}`);
}

/** Whether an action asks first: delete, and attaching as a (writable) disk. */
export function needsConfirm(action) {
  return action.kind === 'delete' || (action.kind === 'attach' && action.mode === 'disk');
}

/** The name an action goes by in the dialog and the result line. */
export function actionName(action) {
  if (action.kind === 'attach') return `Attach ${action.name} as ${MODES.find((m) => m.mode === action.mode)?.label ?? action.mode}`;
  if (action.kind === 'eject') return 'Eject';
  if (action.kind === 'delete') return `Delete ${action.name}`;
  return 'Upload';
}

/** The confirmation dialog's text → {title, text}. */
export function confirmPrompt(action) {
  if (action.kind === 'delete') {
    return { title: `${actionName(action)}?`, text: `This removes the image "${action.name}" from the appliance.` };
  }
  return {
    title: `${actionName(action)}?`,
    text: `The remote server gets "${action.name}" as a writable USB disk: what it writes changes the image.`,
  };
}

/** The line after an action or upload: {ok, text}; errors show the API's `error` text. */
export function resultLine(name, status, body) {
  if (status >= 200 && status < 300) {
    if (body?.sha256) return { ok: true, text: `${name}: uploaded, ${formatSize(body.size)}, SHA-256 ${body.sha256}` };
    if (body && 'ejected' in body) return { ok: true, text: body.ejected ? `Ejected ${body.ejected.name}` : 'Eject: nothing was attached' };
    return { ok: true, text: `${name}: done` };
  }
  if (status === 0) return { ok: false, text: `${name}: cannot reach the appliance` };
  const error = typeof body?.error === 'string' && body.error ? body.error : `HTTP ${status}`;
  return { ok: false, text: `${name}: ${error}` };
}


export class MediaPanel {
  /**
   * @param {object} els  {menu: <details>, summary, attached, list, uploads, file, upload,
   *        progress, progressText, limit, note, viewOnlyNote, message, dialog, dialogTitle,
   *        dialogText, dialogConfirm, dialogCancel} (the dialog is the Power menu's)
   * @param {object} opts
   * @param {() => boolean} opts.viewOnly
   * @param {(state: object) => void} [opts.onChange]  {status, last, progress} after each change
   */
  constructor(els, { viewOnly, onChange = () => {} }) {
    Object.assign(this, { els, viewOnly, onChange });
    this.status = null;
    this.last = null;
    this.progress = null; // {name, loaded, total, reported (by onprogress), done}
    this.uploading = false;
    this.pending = false;
    this.timer = null;
    this.refreshing = null;
    this.model = null;
    this.structure = '';
    els.upload.addEventListener('click', () => this.upload());
    els.file.addEventListener('change', () => this.render());
    document.addEventListener('mousedown', (e) => {
      if (els.menu.open && !els.menu.contains(e.target) && !els.dialog.contains(e.target)) els.menu.open = false;
    });
    els.menu.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !els.dialog.open) els.menu.open = false;
    });
    els.menu.addEventListener('toggle', () => {
      if (els.menu.open) this.refresh();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && els.menu.open) this.refresh();
    });
  }

  /** First look (shows the menu when /api/msd answers), then polls while open and visible. */
  async start() {
    await this.refresh();
    this.timer = setInterval(() => {
      if (this.els.menu.open && document.visibilityState === 'visible') this.refresh();
    }, POLL_MS);
  }

  refresh() {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      const res = await requestJson('GET', '/api/msd', null);
      if (res.status === 200 && res.body) this.status = res.body;
      else if (res.status === 401) this.show(false, 'session expired: reload to sign in again');
      this.render();
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  render() {
    const m = mediaModel(this.status, { viewOnly: this.viewOnly(), uploading: this.uploading, pending: this.pending });
    this.model = m;
    const els = this.els;
    els.menu.hidden = !m.visible;
    els.summary.dataset.attached = String(!!m.attached);
    els.attached.textContent = m.attached ? `${m.attached.name} as ${m.attached.label}` : 'nothing';
    els.note.textContent = m.note;
    els.note.hidden = !m.note;
    els.viewOnlyNote.hidden = !m.viewOnly;
    els.limit.textContent = m.maxText ? `at most ${m.maxText}` : '';
    els.file.disabled = !m.canUpload;
    els.upload.disabled = !m.canUpload || !els.file.files?.length;
    const structure = JSON.stringify([m.images, m.uploads]);
    if (structure !== this.structure) {
      // Rebuilt only when something changed, so a poll does not swap a button being clicked.
      this.structure = structure;
      els.list.replaceChildren(...(m.images.length ? m.images.map((i) => this.imageRow(i)) : [el('p', { class: 'media-empty', textContent: 'no images' })]));
      els.uploads.replaceChildren(...m.uploads.map((u) => el('p', { class: 'media-upload-row', textContent: `uploading ${u.name}: ${u.received}` })));
    }
    els.uploads.hidden = m.uploads.length === 0;
    this.changed();
  }

  imageRow(i) {
    const name = el('span', { class: 'media-name', textContent: i.name, title: i.name });
    const size = el('span', { class: 'media-size', textContent: i.size, title: `${i.bytes} bytes` });
    const hash = el('code', { class: 'media-sha', textContent: i.short || '—', title: i.sha256 ? `SHA-256 ${i.sha256}` : 'SHA-256 unknown' });
    hash.dataset.sha256 = i.sha256;
    const copy = el('button', { type: 'button', class: 'media-copy', textContent: 'Copy', title: 'copy the full SHA-256', disabled: !i.sha256 });
    copy.addEventListener('click', () => this.copy(i.sha256));
    const state = el('span', { class: 'media-state', textContent: i.attached ? `attached (${MODES.find((x) => x.mode === i.attached)?.label})` : '' });
    state.hidden = !i.attached;
    const buttons = [];
    if (i.attached) {
      const eject = el('button', { type: 'button', textContent: 'Eject', dataset: { action: 'eject' }, disabled: !i.canEject });
      eject.addEventListener('click', () => this.act({ kind: 'eject', name: i.name }));
      buttons.push(eject);
    } else {
      for (const m of MODES) {
        const b = el('button', {
          type: 'button',
          textContent: m.mode === 'disk' ? `${m.label}…` : m.label,
          title: `attach as a ${m.does} USB ${m.label === 'Disk' ? 'disk' : 'CD-ROM'}`,
          dataset: { action: m.mode },
          disabled: !i.canAttach,
        });
        b.addEventListener('click', () => this.act({ kind: 'attach', name: i.name, mode: m.mode }));
        buttons.push(b);
      }
    }
    const del = el('button', { type: 'button', class: 'danger', textContent: 'Delete…', dataset: { action: 'delete' }, disabled: !i.canDelete });
    del.addEventListener('click', () => this.act({ kind: 'delete', name: i.name }));
    buttons.push(del);
    return el(
      'div',
      { class: 'media-item', dataset: { image: i.name, attached: i.attached ?? '' } },
      el('div', { class: 'media-line' }, name, size, state),
      el('div', { class: 'media-line' }, el('span', { class: 'media-hash' }, 'SHA-256 ', hash), copy),
      el('div', { class: 'menu-row' }, ...buttons),
    );
  }

  async copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      this.show(true, 'SHA-256 copied');
    } catch (_) {
      this.show(false, `could not copy: ${text}`);
    }
  }

  /** Uploads the chosen file (after the name and size checks) with a progress bar. */
  async upload() {
    if (this.viewOnly()) return this.show(false, 'view-only session: log in as admin to change media');
    const file = this.els.file.files?.[0];
    if (!file || this.uploading) return;
    const name = sanitizeName(file.name);
    const bad = uploadError(name, file.size, this.status);
    if (bad) return this.show(false, `Upload: ${bad}`);
    this.uploading = true;
    let reported = 0; // the most bytes xhr.upload.onprogress has reported sent
    this.setProgress({ name, loaded: 0, total: file.size, reported, done: false });
    this.show(true, `${name}: uploading…`);
    this.render();
    const res = await new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', `/api/msd/images/${encodeURIComponent(name)}`);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.onprogress = (e) => {
        reported = Math.max(reported, e.loaded);
        this.setProgress({ name, loaded: e.loaded, total: e.lengthComputable ? e.total : file.size, reported, done: false });
      };
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (_) {}
        resolve({ status: xhr.status, body });
      };
      xhr.onerror = () => resolve({ status: 0, body: null });
      xhr.onabort = () => resolve({ status: 0, body: null });
      xhr.send(file);
    });
    this.uploading = false;
    const ok = res.status === 201;
    this.setProgress({ name, loaded: ok ? file.size : this.progress.loaded, total: file.size, reported, done: ok });
    const line = resultLine(name, res.status, res.body);
    this.show(line.ok, line.text);
    if (ok) this.els.file.value = '';
    await this.refreshing;
    await this.refresh();
  }

  setProgress(p) {
    this.progress = p;
    const { progress, progressText } = this.els;
    progress.hidden = false;
    progress.max = Math.max(1, p.total);
    progress.value = Math.min(p.loaded, p.total);
    progress.dataset.done = String(p.done);
    const pct = p.total > 0 ? Math.floor((100 * p.loaded) / p.total) : 100;
    progressText.textContent = p.done ? `${p.name}: 100% uploaded` : `${p.name}: ${pct}% (${formatSize(p.loaded)} of ${formatSize(p.total)})`;
    progressText.hidden = false;
    this.changed();
  }

  /** Attach, eject or delete: asks first where it must, sends, shows the result, refreshes. */
  async act(action) {
    if (this.viewOnly()) return this.show(false, 'view-only session: log in as admin to change media');
    const name = actionName(action);
    if (needsConfirm(action) && !(await this.confirm(confirmPrompt(action)))) return this.show(true, `${name}: cancelled`);
    const { method, path, body } = actionRequest(action);
    this.pending = true;
    this.show(true, `${name}: sending…`);
    this.render();
    const res = await requestJson(method, path, body);
    this.pending = false;
    const line = resultLine(name, res.status, res.body);
    this.show(line.ok, line.text);
    await this.refreshing;
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
    this.changed();
  }

  changed() {
    this.onChange({ status: this.status, last: this.last, progress: this.progress });
  }
}
