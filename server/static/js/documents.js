// The document panel: a document's extracted text with one cited span highlighted and scrolled into view, where it
// sits (section path, page), a link to the original file (a PDF at its page), and previous / next through the spans
// of one answer in that document. Text goes in as text nodes only, so a document holding markup shows it, runs nothing.
// With an API key a plain link cannot carry the key, so the original is fetched with it and opened as a blob: a PDF
// as a PDF at its page, text as plain text (an HTML original shows its source, runs nothing), anything else saved.

import { apiKey, call, documentPath, fetchBlob } from "./api.js";
import { el, whereLabel } from "./dom.js";
import { locate } from "./text.js";

export class DocumentPanel {
  constructor(layout) {
    this.layout = layout;
    this.root = document.getElementById("doc-panel");
    this.title = document.getElementById("doc-title");
    this.where = document.getElementById("doc-where");
    this.count = document.getElementById("doc-count");
    this.prev = document.getElementById("doc-prev");
    this.next = document.getElementById("doc-next");
    this.original = document.getElementById("doc-original");
    this.notice = document.getElementById("doc-notice");
    this.text = document.getElementById("doc-text");
    this.cache = new Map();  // doc_id -> document, for the build last seen
    this.blobs = new Map();  // original path -> blob: URL, for the build last seen (opened with a key)
    this.build = null;
    this.spans = [];
    this.index = 0;
    this.opener = null;
    this.prev.addEventListener("click", () => this.show(this.index - 1));
    this.next.addEventListener("click", () => this.show(this.index + 1));
    document.getElementById("doc-close").addEventListener("click", () => this.close());
    this.original.addEventListener("click", (event) => {
      if (!apiKey()) return;  // no key: the link works as it is
      event.preventDefault();
      this.openOriginal();
    });
  }

  get isOpen() {
    return !this.root.hidden;
  }

  /** Forget cached texts when answers come from another build (its documents may differ). */
  seeBuild(buildId) {
    if (buildId && buildId !== this.build) {
      this.cache.clear();
      for (const url of this.blobs.values()) URL.revokeObjectURL(url);
      this.blobs.clear();
      this.build = buildId;
    }
  }

  /** Open `spans` (all in one document: {doc_id, start, end, quote, section, pages, page, label}) at `index`. */
  async open(spans, index, opener) {
    this.spans = spans;
    this.opener = opener;
    this.doc = null;
    this.root.hidden = false;
    this.layout.classList.add("with-document");
    this.title.textContent = "Opening the document…";
    this.text.replaceChildren();
    this.notice.hidden = true;
    this.where.textContent = "";
    this.count.textContent = "";
    this.title.focus();
    const ticket = (this.ticket = {});  // a later open wins over this one if it finishes first
    let doc;
    try {
      doc = await this.load(spans[0].doc_id);
    } catch (error) {
      if (ticket !== this.ticket) return;
      this.title.textContent = "The document could not be opened";
      this.showNotice(error.message);
      return;
    }
    if (ticket !== this.ticket) return;
    this.doc = doc;
    this.title.textContent = this.doc.title || this.doc.doc_id;
    this.show(index);
  }

  async load(docId) {
    if (!this.cache.has(docId)) this.cache.set(docId, await call("GET", documentPath(docId)));
    return this.cache.get(docId);
  }

  show(index) {
    if (index < 0 || index >= this.spans.length || !this.doc) return;
    this.index = index;
    const span = this.spans[index];
    const doc = this.doc;
    this.where.textContent = [span.label, whereLabel(span)].filter(Boolean).join(" · ");
    this.count.textContent = this.spans.length > 1 ? `${index + 1} of ${this.spans.length} in this document` : "";
    this.prev.hidden = this.next.hidden = this.spans.length < 2;
    this.prev.disabled = index === 0;
    this.next.disabled = index === this.spans.length - 1;
    this.showOriginal(doc, span);
    const found = locate(doc.text, span.start, span.end, span.quote);
    this.notice.hidden = true;
    if (!found) {
      this.text.replaceChildren(doc.text);
      this.showNotice(`This document changed after the answer was given: the quoted words are no longer in it. `
        + `Ask again to get an answer from the current version.`);
      return;
    }
    if (found.moved) this.showNotice("This document changed after the answer was given; the quote is highlighted where it now stands.");
    const [from, to] = found.range;
    this.mark = el("mark", { class: "cited", tabindex: "-1" }, doc.text.slice(from, to));
    this.text.replaceChildren(doc.text.slice(0, from), this.mark, doc.text.slice(to));
    this.mark.scrollIntoView({ block: "center" });
  }

  showOriginal(doc, span) {
    const url = typeof doc.original_url === "string" && doc.original_url.startsWith("/") ? doc.original_url : documentPath(doc.doc_id) + "/original";
    const page = doc.format === "pdf" && span.page ? `#page=${span.page}` : "";
    this.original.href = url + page;
    this.original.textContent = page ? `Original PDF at page ${span.page}` : `Original file (${doc.format})`;
    this.originalAt = { url, page, name: doc.doc_id.split("/").pop(), kind: ORIGINAL_KINDS[doc.format] || "file" };
  }

  /** Open the original with the key: fetched, then shown from a blob: URL in a new tab (a PDF at its page), or saved. */
  async openOriginal() {
    const { url, page, name, kind } = this.originalAt;
    const tab = kind === "file" ? null : window.open("", "_blank");  // now, while the click counts: no pop-up block
    let blobUrl = this.blobs.get(url);
    try {
      if (!blobUrl) {
        blobUrl = URL.createObjectURL(viewable(await fetchBlob(url), kind));
        this.blobs.set(url, blobUrl);
      }
    } catch (error) {
      if (tab) tab.close();
      this.showNotice(`The original file could not be opened: ${error.message}`);
      return;
    }
    if (kind === "file") saveAs(blobUrl, name);
    else if (!tab) this.showNotice("Your browser blocked the new tab for the original file: allow pop-ups for this page, then try again.");
    else {
      tab.opener = null;
      tab.location.href = blobUrl + (kind === "pdf" ? page : "");
    }
  }

  showNotice(message) {
    this.notice.textContent = message;
    this.notice.hidden = false;
  }

  close() {
    if (!this.isOpen) return;
    this.root.hidden = true;
    this.layout.classList.remove("with-document");
    if (this.opener && this.opener.isConnected) this.opener.focus();
  }
}

const ORIGINAL_KINDS = { pdf: "pdf", html: "text", markdown: "text", text: "text" };  // else saved as a file

/** The original as the browser may safely show it in this origin: a PDF as a PDF, any text as plain text (so an
 * HTML original shows its source and runs nothing), anything else as bytes to save. */
function viewable(blob, kind) {
  const type = kind === "pdf" ? "application/pdf" : kind === "text" ? "text/plain;charset=utf-8" : "application/octet-stream";
  return new Blob([blob], { type });
}

/** Save `url` as a file called `name` (the browser's download). */
function saveAs(url, name) {
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
}

/** The spans to step through when citation `n` of `answer` is opened: every citation of that document, in order. */
export function citationSpans(answer, n) {
  const chosen = answer.citations.find((c) => c.n === n);
  const same = answer.citations.filter((c) => c.doc_id === chosen.doc_id).sort((a, b) => a.n - b.n);
  const spans = same.map((c) => ({ ...c, label: `Source ${c.n}` }));
  return { spans, index: same.indexOf(chosen) };
}

/** The spans when closest passage `rank` of a refusal is opened: the passages of that document, by rank. */
export function passageSpans(answer, rank) {
  const chosen = answer.passages.find((p) => p.rank === rank);
  const same = answer.passages.filter((p) => p.doc_id === chosen.doc_id).sort((a, b) => a.rank - b.rank);
  const spans = same.map((p) => ({ ...p, quote: p.text, label: `Closest passage ${p.rank}` }));
  return { spans, index: same.indexOf(chosen) };
}
