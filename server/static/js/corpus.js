// The Corpus view, for keys that may administer (GET /v1/me says so; other keys never see its button): the corpus
// health report (overdue reviews with date and owner, broken references, superseded copies, candidate conflicts with
// both spans), a form to add or replace a document (POST /v1/documents), and the build it starts, polled from
// /v1/builds/{id} until it is live, refused by the gate (with the gate's reasons and figures) or failed. Every string
// from the server goes into the page as text (dom.js), never as markup.

import { call, upload } from "./api.js";
import { announce, el, snippet } from "./dom.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const SHOWN_CONFLICTS = 15;
const STATES = {
  queued: "queued: waiting for the build before it to finish",
  building: "building",
  gate_failed: "refused by the gate: the live documents are unchanged",
  live: "live: questions are now answered from it",
  failed: "failed",
};

function where(span) {
  return [span.doc_id, (span.section || []).join(" > ")].filter(Boolean).join(" · ");
}

function quoted(span) {
  return el("span", { class: "span-quote" }, el("span", { class: "muted small", text: where(span) + ": " }), `“${snippet(span.quote, 400)}”`);
}

export class CorpusView {
  constructor(main, onLive) {
    this.main = main;
    this.onLive = onLive;
    this.view = $("corpus-view");
    this.toggle = $("corpus-toggle");
    this.form = $("upload-form");
    this.error = $("upload-error");
    this.status = $("build-status");
    this.timer = null;
    this.toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
  }

  get isOpen() {
    return !this.view.hidden;
  }

  /** Show the Corpus button only to a key that may administer. */
  async detect() {
    try {
      const me = await call("GET", "/v1/me");
      this.toggle.hidden = !me.admin;
    } catch {
      this.toggle.hidden = true;
    }
  }

  open() {
    this.view.hidden = false;
    this.main.classList.add("corpus-open");
    this.toggle.setAttribute("aria-expanded", "true");
    this.toggle.textContent = "Conversation";
    $("corpus-title").focus();
    this.refresh();
  }

  close() {
    this.view.hidden = true;
    this.main.classList.remove("corpus-open");
    this.toggle.setAttribute("aria-expanded", "false");
    this.toggle.textContent = "Corpus";
    $("question").focus();
  }

  refresh() {
    this.loadHealth();
    this.loadBuilds();
  }

  async loadHealth() {
    const box = $("health");
    try {
      box.replaceChildren(...this.renderHealth(await call("GET", "/v1/corpus/health")));
    } catch (error) {
      box.replaceChildren(el("p", { class: "upload-error", text: error.message }));
    }
  }

  renderHealth(report) {
    const c = report.counts;
    const out = [el("p", { class: "counts", text: `On ${report.today}: ${c.documents} documents, ${c.overdue_reviews} overdue `
      + `reviews, ${c.broken_references} broken references, ${c.superseded} superseded or not yet in force, `
      + `${c.conflicts} candidate conflicts.` })];
    const section = (title, id, items) => {
      if (!items.length) return;
      out.push(el("h4", { text: title }), el("ul", { id }, items));
    };
    section("Overdue reviews", "health-overdue", report.overdue_reviews.map((o) => el("li", {},
      `${o.title} (${o.doc_id}): next review ${o.next_review}, ${o.days_overdue} days ago; owner ${o.owner || "not stated"}`)));
    section("Broken references", "health-references", report.broken_references.map((r) => el("li", {},
      `${r.kind === "clause" ? `clause ${r.clause} of ${r.target}` : r.target} is not in the corpus`, quoted(r.span))));
    section("Superseded or not yet in force", "health-superseded", report.superseded.map((s) => el("li", {},
      `${s.doc_id} (version ${s.version || "?"}, effective ${s.effective || "?"}): ${s.standing}`
      + (s.current ? `; the current copy is ${s.current}` : ""))));
    section("Candidate conflicts", "health-conflicts", report.conflicts.slice(0, SHOWN_CONFLICTS).map((k) => el("li", { class: "conflict" },
      `${k.kinds.join(" / ")}: ${k.values.map((v) => v.join(", ")).join(" vs ")}`, quoted(k.a), quoted(k.b))));
    if (report.conflicts.length > SHOWN_CONFLICTS) {
      out.push(el("p", { class: "muted small", text: `… and ${report.conflicts.length - SHOWN_CONFLICTS} more (rag corpus check --all lists them).` }));
    }
    return out;
  }

  async loadBuilds() {
    try {
      const { builds } = await call("GET", "/v1/builds?limit=10");
      $("build-list").replaceChildren(...(builds.length ? builds.map((b) => el("li", {},
        `${b.created_at.slice(0, 19).replace("T", " ")} · ${b.documents.join(", ")} · ${b.state.replace("_", " ")}`
        + (b.build_id ? ` · build ${b.build_id}` : ""))) : [el("li", { class: "muted", text: "No builds started from this page yet." })]));
    } catch (error) {
      $("build-list").replaceChildren(el("li", { class: "upload-error", text: error.message }));
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  async submit() {
    const file = $("upload-file").files[0];
    if (!file) return this.showError("Choose a document to upload first.");
    const form = new FormData();
    form.append("file", file);
    const path = $("upload-path").value.trim();
    if (path) form.append("path", path);
    this.showError("");
    $("upload-submit").disabled = true;
    try {
      const reply = await upload("/v1/documents", form);
      if (!reply.build) {
        this.showStatus({ state: "unchanged" }, `${reply.doc_id} is unchanged: the corpus already holds exactly this file.`);
        return;
      }
      announce(`Uploaded ${reply.doc_id}; its build is ${reply.build.state}.`);
      this.follow(reply.build.id);
    } catch (error) {
      this.showError(error.message);
    } finally {
      $("upload-submit").disabled = false;
    }
  }

  /** Poll the build `id` until it is finished, showing each state. */
  async follow(id) {
    clearTimeout(this.timer);
    let job;
    try {
      job = await call("GET", `/v1/builds/${encodeURIComponent(id)}`);
    } catch (error) {
      this.showError(error.message);
      return;
    }
    this.renderJob(job);
    if (!job.finished) {
      this.timer = setTimeout(() => this.follow(id), POLL_MS);
      return;
    }
    announce(`Build of ${job.documents.join(", ")}: ${STATES[job.state]}.`);
    this.loadBuilds();
    if (job.state === "live") {
      this.loadHealth();
      this.onLive(job);
    }
  }

  renderJob(job) {
    const parts = [el("strong", { text: `Build of ${job.documents.join(", ")}: ` }), STATES[job.state] || job.state];
    if (job.state === "building" && job.stage) {
      parts.push(` (${job.stage}${job.total ? `, ${job.done} of ${job.total}` : ""})`);
      if (job.total) parts.push(el("progress", { max: job.total, value: job.done, "aria-label": `${job.stage} progress` }));
    }
    const gate = job.result && job.result.gate;
    if (job.state === "gate_failed" && gate) {
      parts.push(el("ul", { class: "gate-failures" }, (gate.failures || []).map((f) => el("li", { text: f }))));
      const restored = job.result.restored || [];
      if (restored.length) parts.push(el("p", { class: "small", text: `${restored.join(", ")}: the corpus folder holds the live version again.` }));
    }
    if (job.result && job.result.eval) {
      const figures = Object.entries(job.result.eval).map(([name, e]) => {
        const r = e.retrieval || {};
        const hit = r["hit@5"] ?? r["hit@10"];
        return `${name}: ${e.n} questions, hit@5 ${hit === undefined || hit === null ? "n/a" : hit.toFixed(3)}`;
      });
      if (figures.length) parts.push(el("p", { class: "small gate-figures", text: `Gate figures: ${figures.join("; ")}` }));
    }
    if (job.state === "failed" && job.error) parts.push(el("p", { class: "small", text: job.error }));
    this.showStatus(job, ...parts);
  }

  showStatus(job, ...parts) {
    this.status.replaceChildren(...parts.map((p) => (typeof p === "string" ? document.createTextNode(p) : p)));
    this.status.dataset.state = job.state;
    this.status.hidden = false;
  }
}
