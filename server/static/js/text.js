// Offsets in document text. The server counts characters as Python does (code points); JavaScript strings count
// UTF-16 units, so every character outside the Basic Multilingual Plane (an emoji, some CJK) is two units here.

const SURROGATE = /[\uD800-\uDFFF]/;

/** The UTF-16 range of the code point range [start, end) of `text`. */
export function unitRange(text, start, end) {
  if (!SURROGATE.test(text)) return [Math.min(start, text.length), Math.min(end, text.length)];
  let points = 0;
  let from = text.length;
  for (let i = 0; i < text.length; points += 1) {
    if (points === start) from = i;
    if (points === end) return [from, i];
    i += text.codePointAt(i) > 0xffff ? 2 : 1;
  }
  return [points === start ? text.length : from, text.length];
}

/** `text[start:end]` as Python slices it. */
export function codePointSlice(text, start, end) {
  const [from, to] = unitRange(text, start, end);
  return text.slice(from, to);
}

/** The UTF-16 range to highlight for `wanted` at [start, end): there when the text still holds it, else the first place
 * it occurs (the document changed since the answer), else null. */
export function locate(text, start, end, wanted) {
  const range = unitRange(text, start, end);
  if (!wanted || text.slice(range[0], range[1]) === wanted) return { range, moved: false };
  const at = text.indexOf(wanted);
  return at >= 0 ? { range: [at, at + wanted.length], moved: true } : null;
}
