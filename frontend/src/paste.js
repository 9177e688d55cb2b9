// paste.js — the paste box: text typed on the remote host as keystrokes, sent as
// {"type":"text","text":…,"layout":…} on the `hid` channel (contracts.md). The layout select
// names the layout the *remote host* is set to (the device picks the keys that produce each
// character there); it starts at the server's configured layout when /api/state carries
// `keyboard_layout`, else `us`.
//
// The device refuses text it cannot type with {"type":"error","reason":…} (e.g. `the us layout
// cannot type "é"`); the page hands such replies to claimsError(), and the box shows the ones
// that are about pasting next to itself. Text over the device's message limit is sent in
// several messages (each is refused or typed on its own). Pure helpers are exported for tests.

/** The device's limit on one data-channel message, in bytes (input::wire::MAX_MESSAGE_BYTES). */
export const MAX_MESSAGE_BYTES = 16 * 1024;
/** An error reply this soon after a paste is taken to be about the paste. */
export const PASTE_ERROR_MS = 3000;
/** Layouts offered: the remote host's keyboard layout. */
export const LAYOUTS = [
  { id: 'us', label: 'US English' },
  { id: 'uk', label: 'UK English' },
  { id: 'de', label: 'German' },
  { id: 'fr', label: 'French' },
];

const utf8 = new TextEncoder();
const jsonBytes = (v) => utf8.encode(JSON.stringify(v)).length;

/** The layout the select starts at: the server's `keyboard_layout` if it names one, else us. */
export function defaultLayout(state) {
  const l = state?.keyboard_layout;
  return typeof l === 'string' && l ? l : 'us';
}

/**
 * The `text` messages that type `text` with `layout`, each at most maxBytes of JSON; split
 * between characters (never inside a surrogate pair). Line ends become "\n". Empty → [].
 */
export function textMessages(text, layout, maxBytes = MAX_MESSAGE_BYTES) {
  const clean = text.replace(/\r\n?/g, '\n');
  if (!clean) return [];
  const msg = (t) => ({ type: 'text', text: t, layout });
  const overhead = jsonBytes(msg(''));
  const out = [];
  let chunk = '';
  let size = overhead;
  for (const ch of clean) {
    const n = jsonBytes(ch) - 2; // the character as it appears inside a JSON string
    if (size + n > maxBytes && chunk) {
      out.push(msg(chunk));
      chunk = '';
      size = overhead;
    }
    chunk += ch;
    size += n;
  }
  if (chunk) out.push(msg(chunk));
  return out;
}

/** Whether an error reply is about the last paste (sent at `sentAt`; null = never). */
export function isPasteError(reason, sentAt, now) {
  if (/\blayout\b/.test(reason)) return true;
  return sentAt !== null && now - sentAt <= PASTE_ERROR_MS;
}

export class PasteBox {
  /**
   * @param {object} els  {text: <textarea>, layout: <select>, send: <button>, message: <p>}
   * @param {(msg: object) => boolean} send  sends one message; false if it could not
   */
  constructor(els, send) {
    this.els = els;
    this.sendMessage = send;
    this.sentAt = null;
    for (const { id, label } of LAYOUTS) els.layout.append(new Option(`${label} (${id})`, id));
    els.send.addEventListener('click', () => this.submit());
    els.text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) this.submit();
    });
  }

  /** Selects the server's layout (adding it to the list if it is not offered). */
  setLayout(id) {
    const select = this.els.layout;
    if (![...select.options].some((o) => o.value === id)) select.append(new Option(id, id));
    select.value = id;
  }

  submit() {
    const messages = textMessages(this.els.text.value, this.els.layout.value);
    if (messages.length === 0) return this.show('nothing to type', false);
    for (const m of messages) {
      if (!this.sendMessage(m)) return this.show('not sent: input is not connected', true);
    }
    this.sentAt = performance.now();
    const chars = [...this.els.text.value].length;
    this.show(`typing ${chars} character${chars === 1 ? '' : 's'}…`, false);
  }

  /** Takes an error reply if it is about pasting (then shown here); false otherwise. */
  claimsError(reason) {
    if (!isPasteError(reason, this.sentAt, performance.now())) return false;
    this.show(reason, true);
    return true;
  }

  show(text, isError) {
    const m = this.els.message;
    m.textContent = text;
    m.classList.toggle('error', isError);
    m.hidden = !text;
  }
}
