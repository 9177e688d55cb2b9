// keys-menu.js — the special-keys menu: key combinations a local keyboard cannot send to the
// remote host because the local OS or browser keeps them (Ctrl+Alt+Del, Alt+Tab, the Win key,
// PrintScreen, Ctrl+Alt+F1..F12 for Linux consoles), plus plain F-keys and the lock keys.
//
// Each combination is a list of W3C `KeyboardEvent.code`s; choosing one sends a `key` down for
// each in order and then a `key` up for each in reverse (comboMessages). The table and the
// message order are pure; buildKeysMenu() fills a <details> menu with one button per entry.

const F = (n) => `F${n}`;
const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

/** The menu: groups of {id, label, codes}; ids are stable (tests and the DOM use them). */
export const KEY_GROUPS = [
  {
    title: 'System',
    items: [
      { id: 'ctrl-alt-del', label: 'Ctrl+Alt+Del', codes: ['ControlLeft', 'AltLeft', 'Delete'] },
      { id: 'ctrl-shift-esc', label: 'Ctrl+Shift+Esc', codes: ['ControlLeft', 'ShiftLeft', 'Escape'] },
      { id: 'ctrl-alt-backspace', label: 'Ctrl+Alt+Backspace', codes: ['ControlLeft', 'AltLeft', 'Backspace'] },
      { id: 'alt-tab', label: 'Alt+Tab', codes: ['AltLeft', 'Tab'] },
      { id: 'alt-shift-tab', label: 'Alt+Shift+Tab', codes: ['AltLeft', 'ShiftLeft', 'Tab'] },
      { id: 'alt-f4', label: 'Alt+F4', codes: ['AltLeft', 'F4'] },
      { id: 'meta', label: 'Win / Super', codes: ['MetaLeft'] },
      { id: 'meta-l', label: 'Win+L (lock)', codes: ['MetaLeft', 'KeyL'] },
      { id: 'meta-r', label: 'Win+R (run)', codes: ['MetaLeft', 'KeyR'] },
      { id: 'meta-d', label: 'Win+D (desktop)', codes: ['MetaLeft', 'KeyD'] },
      { id: 'escape', label: 'Esc', codes: ['Escape'] },
      { id: 'print-screen', label: 'PrintScreen', codes: ['PrintScreen'] },
      { id: 'alt-print-screen', label: 'Alt+PrintScreen', codes: ['AltLeft', 'PrintScreen'] },
      { id: 'pause', label: 'Pause / Break', codes: ['Pause'] },
      { id: 'context-menu', label: 'Menu', codes: ['ContextMenu'] },
      { id: 'insert', label: 'Insert', codes: ['Insert'] },
    ],
  },
  {
    title: 'Function keys',
    items: range(12).map((n) => ({ id: `f${n}`, label: F(n), codes: [F(n)] })),
  },
  {
    title: 'Ctrl+Alt+F (Linux consoles)',
    items: range(12).map((n) => ({
      id: `ctrl-alt-f${n}`,
      label: F(n),
      title: `Ctrl+Alt+F${n}`,
      codes: ['ControlLeft', 'AltLeft', F(n)],
    })),
  },
  {
    title: 'Lock keys',
    items: [
      { id: 'caps-lock', label: 'Caps Lock', codes: ['CapsLock'] },
      { id: 'num-lock', label: 'Num Lock', codes: ['NumLock'] },
      { id: 'scroll-lock', label: 'Scroll Lock', codes: ['ScrollLock'] },
    ],
  },
];

/** The entry with this id, or null. */
export function comboById(id) {
  for (const g of KEY_GROUPS) {
    const item = g.items.find((i) => i.id === id);
    if (item) return item;
  }
  return null;
}

/** The `key` messages for pressing `codes` together: downs in order, then ups in reverse. */
export function comboMessages(codes) {
  const downs = codes.map((code) => ({ type: 'key', code, down: true }));
  const ups = [...codes].reverse().map((code) => ({ type: 'key', code, down: false }));
  return [...downs, ...ups];
}

/**
 * Fills `details` (a <details> with a <summary>) with one button per entry; a click calls
 * onCombo(item) and closes the menu. Clicking elsewhere or Esc closes it too.
 */
export function buildKeysMenu(details, onCombo) {
  const panel = document.createElement('div');
  panel.className = 'menu-panel keys-panel';
  for (const group of KEY_GROUPS) {
    const section = document.createElement('section');
    const h = document.createElement('h2');
    h.textContent = group.title;
    const row = document.createElement('div');
    row.className = 'menu-row';
    for (const item of group.items) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.combo = item.id;
      b.textContent = item.label;
      b.title = item.title ?? item.label;
      b.addEventListener('click', () => {
        details.open = false;
        onCombo(item);
      });
      row.append(b);
    }
    section.append(h, row);
    panel.append(section);
  }
  details.append(panel);
  closeOnOutsideClick(details);
}

/** Closes an open <details> menu when the user clicks outside it or presses Esc in it. */
export function closeOnOutsideClick(details) {
  document.addEventListener('mousedown', (e) => {
    if (details.open && !details.contains(e.target)) details.open = false;
  });
  details.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') details.open = false;
  });
}
