// dom.js — building elements without innerHTML (the CSP allows no inline code or styles).

/**
 * A new `tag` element with `props` (`class`, `dataset`, `role` and `aria-*` as attributes,
 * anything else as a property) and `children` appended.
 */
export const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'class') e.className = v;
    else if (k.startsWith('aria-') || k === 'role') e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
};

/**
 * Opens the shared confirmation <dialog> (`els`: dialog, dialogTitle, dialogText,
 * dialogCancel) with `title` and `text`; resolves true on Confirm, false on Cancel or Esc,
 * and false at once when it is already open for another question.
 */
export const askConfirm = (els, { title, text }) => {
  const { dialog, dialogTitle, dialogText, dialogCancel } = els;
  if (dialog.open) return Promise.resolve(false);
  dialogTitle.textContent = title;
  dialogText.textContent = text;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.showModal();
    dialogCancel.focus();
  });
};
