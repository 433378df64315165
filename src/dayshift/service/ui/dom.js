// dayshift web UI: small DOM helpers shared by the pages' modules.
//
// Every piece of server text enters the page through textContent or text nodes, never innerHTML.

export const $ = (id) => document.getElementById(id);

// -- small DOM helpers ------------------------------------------------------

/** A new element; props: class, text, data-*, aria-*, on<event>; children: nodes or strings (as text). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

export const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);
export const fmtUsd = (usd) => `$${usd.toFixed(usd && usd < 0.01 ? 6 : 4)}`;
export const fmtTime = (iso) => {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? iso : when.toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
};
