// Tiny DOM helpers (no framework).
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of [].concat(children)) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const badge = (state) => el("span", { class: `badge ${state || ""}`, "data-state": state || "" }, state || "?");

/** "cached": a stage whose result came from the step cache (its step did not run); `n` of a fan-out's. */
export const cachedBadge = (n = null) => el(
  "span",
  { class: "badge cached", "data-cached": n === null ? "" : String(n), title: "result read from the step cache: the step did not run" },
  n === null ? "cached" : `${n.toLocaleString("en")} cached`,
);

export function when(value) {
  return value ? new Date(value).toLocaleString() : "";
}

export function seconds(from, to) {
  if (!from || !to) return "";
  return `${((new Date(to) - new Date(from)) / 1000).toFixed(1)} s`;
}

export function notice(text, kind = "") {
  return el("div", { class: `notice ${kind}`, role: "alert" }, text);
}

export function json(value) {
  return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/** Replace `node`'s children (null ones left out). */
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c != null));
}
