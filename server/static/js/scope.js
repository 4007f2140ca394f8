// What a conversation searches: some documents, or the documents with an owner or a tag (GET /v1/documents lists
// them and their metadata). The choice is sent as `filters` with every question of the conversation.

import { call } from "./api.js";
import { el } from "./dom.js";

const LIST_SPLIT = /\s*,\s*/;

export class Scope {
  constructor(onChange) {
    this.onChange = onChange;
    this.details = document.getElementById("scope");
    this.summary = document.getElementById("scope-summary");
    this.owner = document.getElementById("scope-owner");
    this.tag = document.getElementById("scope-tag");
    this.box = document.getElementById("scope-documents");
    this.state = { doc_ids: [], owner: "", tag: "" };
    this.documents = null;
    this.details.addEventListener("toggle", () => { if (this.details.open) this.load(); });
    this.owner.addEventListener("change", () => this.changed({ owner: this.owner.value }));
    this.tag.addEventListener("change", () => this.changed({ tag: this.tag.value }));
    this.box.addEventListener("change", () => this.changed({ doc_ids: this.checkedIds() }));
    document.getElementById("scope-clear").addEventListener("click", () => {
      this.set(null);
      this.onChange(this.filters());
    });
  }

  /** The request's `filters` for this scope, or null for every document. */
  filters() {
    const metadata = {};
    if (this.state.owner) metadata.owner = this.state.owner;
    if (this.state.tag) metadata.tags = this.state.tag;
    if (!this.state.doc_ids.length && !Object.keys(metadata).length) return null;
    return { doc_ids: [...this.state.doc_ids], metadata };
  }

  /** Show the scope of `filters` (a conversation's, or null for every document). */
  set(filters) {
    this.state = { doc_ids: filters ? [...(filters.doc_ids || [])] : [], owner: filters?.metadata?.owner || "",
      tag: filters?.metadata?.tags || "" };
    this.sync();
  }

  changed(part) {
    this.state = { ...this.state, ...part };
    this.sync();
    this.onChange(this.filters());
  }

  checkedIds() {
    return [...this.box.querySelectorAll("input:checked")].map((input) => input.value);
  }

  async load() {
    if (this.documents) return;
    try {
      this.documents = (await call("GET", "/v1/documents")).sort((a, b) => (a.title || a.doc_id).localeCompare(b.title || b.doc_id));
    } catch (error) {
      this.box.replaceChildren(el("p", { class: "error-text small", text: `The documents could not be listed: ${error.message}` }));
      return;
    }
    fillSelect(this.owner, "Any owner", distinct(this.documents.map((d) => d.metadata.owner)));
    fillSelect(this.tag, "Any tag", distinct(this.documents.flatMap((d) => (d.metadata.tags || "").split(LIST_SPLIT))));
    this.box.replaceChildren(...this.documents.map((d, i) => el("div", { class: "scope-document" },
      el("input", { type: "checkbox", id: `scope-doc-${i}`, value: d.doc_id }),
      el("label", { for: `scope-doc-${i}` }, d.title || d.doc_id, " ", el("span", { class: "muted small", text: `(${d.doc_id})` })))));
    this.sync();
  }

  /** Controls and the summary line follow the state. */
  sync() {
    if (this.documents) {
      setSelect(this.owner, this.state.owner);
      setSelect(this.tag, this.state.tag);
      for (const input of this.box.querySelectorAll("input")) input.checked = this.state.doc_ids.includes(input.value);
    }
    const parts = [];
    const n = this.state.doc_ids.length;
    if (n) parts.push(n === 1 ? `1 document (${this.titleOf(this.state.doc_ids[0])})` : `${n} documents`);
    if (this.state.owner) parts.push(`owner: ${this.state.owner}`);
    if (this.state.tag) parts.push(`tag: ${this.state.tag}`);
    this.summary.textContent = parts.length ? `Searching ${parts.join(" · ")}` : "Searching all documents";
    this.details.classList.toggle("narrowed", parts.length > 0);
  }

  titleOf(docId) {
    const doc = this.documents && this.documents.find((d) => d.doc_id === docId);
    return doc ? doc.title : docId;
  }
}

function distinct(values) {
  const seen = new Map();
  for (const value of values) {
    const clean = (value || "").trim();
    if (clean && !seen.has(clean.toLowerCase())) seen.set(clean.toLowerCase(), clean);
  }
  return [...seen.values()].sort((a, b) => a.localeCompare(b));
}

function fillSelect(select, anyLabel, values) {
  select.replaceChildren(el("option", { value: "", text: anyLabel }), ...values.map((v) => el("option", { value: v, text: v })));
}

function setSelect(select, value) {
  if (value && ![...select.options].some((o) => o.value === value)) select.append(el("option", { value, text: value }));
  select.value = value;
}
