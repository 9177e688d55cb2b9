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
