// Building the page's elements. Every string from the server (answers, quotes, document text, titles) goes into the
// page through here as a text node or an attribute value, never as markup: nothing here parses HTML.

const SVG = "http://www.w3.org/2000/svg";

/** An element with attributes, listeners (`onclick`...), `text`, and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Append children: nodes as they are, anything else as text. */
export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const ICONS = {
  up: "M7 10v11H3V10zm2 11h8.3a2 2 0 0 0 2-1.6l1.3-6.6A2 2 0 0 0 18.6 10H14V5.5A2.5 2.5 0 0 0 11.5 3L9 10z",
  down: "M7 14V3H3v11zm2-11h8.3a2 2 0 0 1 2 1.6l1.3 6.6a2 2 0 0 1-2 2.4H14v4.9a2.5 2.5 0 0 1-2.5 2.5L9 14z",
  trash: "M9 3h6l1 2h4v2H4V5h4zm-3 6h12l-1 12H7z",
};

/** A small decorative icon (hidden from assistive technology: its button carries the words). */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

/** Say something to screen readers through the page's polite live region. */
export function announce(text, { append: add = false } = {}) {
  const region = document.getElementById("announcer");
  if (!add) region.replaceChildren();
  region.append(document.createTextNode(text));
}

/** Where a citation or passage sits: "5. Retention > 5.3 People · p. 2". */
export function whereLabel(item) {
  return [item.section, item.pages].filter(Boolean).join(" · ");
}

/** Text with runs of white space made single spaces, cut to `limit` characters. */
export function snippet(text, limit = 220) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > limit ? flat.slice(0, limit - 1).trimEnd() + "…" : flat;
}
