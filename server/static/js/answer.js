// One turn of the conversation on screen: the question, then the answer as it streams in (its [n] markers as
// citation chips), its sources, and thumbs up or down with a comment; or the "not in the documents" state with the
// closest passages; or an error that says what to do. The turn calls back into the page (`actions`) to open a
// document, rate, retry or start over; it never fetches anything itself.

import { announce, el, icon, snippet, whereLabel } from "./dom.js";

const MARKER = /\[(\d+)\]/g;
let nextId = 0;

/** The answer text as text nodes and chip buttons, one per [n] marker (inert until the citations are known). */
function markedUp(text, citations) {
  const byN = new Map(citations.map((c) => [c.n, c]));
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    parts.push(text.slice(last, match.index));
    parts.push(chip(Number(match[1]), byN.get(Number(match[1]))));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts.filter((part) => part !== "");
}

function chip(n, citation) {
  const label = citation ? `Source ${n}: ${citation.title}${whereLabel(citation) ? ", " + whereLabel(citation) : ""}` : `Source ${n}`;
  return el("button", { type: "button", class: "chip", "data-n": n, "aria-label": label, title: citation ? label : null,
    "aria-disabled": citation ? null : "true" }, String(n));
}

/** How the markers are read out: "(source 1)". */
function spoken(text) {
  return text.replace(MARKER, "(source $1)");
}

export class TurnView {
  constructor(question, actions, { live = true } = {}) {
    this.question = question;
    this.live = live;  // a turn read back from a stored conversation is not announced
    this.actions = actions;
    this.answer = null;
    this.n = null;
    this.text = "";
    this.rating = null;
    this.label = el("h3", { class: "reply-label", text: "Answer" });
    this.textNode = el("p", { class: "answer-text" });
    this.textNode.addEventListener("click", (event) => this.chipClicked(event));
    this.pending = el("p", { class: "pending-note muted small", text: "Searching the documents…" });
    this.reply = el("div", { class: "reply pending", "aria-busy": "true" }, this.label, this.pending, this.textNode);
    this.root = el("article", { class: "turn" },
      el("div", { class: "question" }, el("h3", { class: "sr-only", text: "You asked" }), el("p", { class: "question-text", text: question })),
      this.reply);
    this.say("");
  }

  say(text, options) {
    if (this.live) announce(text, options);
  }

  /** The next piece of streamed text. */
  appendText(piece) {
    if (!this.text) {
      this.pending.remove();
      this.reply.classList.remove("pending");
    }
    this.text += piece;
    this.textNode.replaceChildren(...markedUp(this.text, []));
    this.say(spoken(piece), { append: true });
  }

  /** The finished answer object: chips come alive and the sources are listed, or the refusal state is shown. */
  finish(answer) {
    this.answer = answer;
    this.reply.removeAttribute("aria-busy");
    this.pending.remove();
    this.showSearched(answer);
    if (answer.abstained) {
      this.showRefusal(answer);
      return;
    }
    this.text = answer.answer;
    const uncertain = answer.status === "uncertain";
    this.reply.className = uncertain ? "reply uncertain" : "reply answered";
    if (uncertain) this.label.textContent = "May answer: check these clauses";
    this.textNode.replaceChildren(...markedUp(answer.answer, answer.citations));
    if (answer.notes?.length) this.reply.append(this.notes(answer));
    if (answer.citations.length) this.reply.append(this.sources(answer, uncertain ? "Places to look" : "Sources"));
    const count = answer.citations.length;
    for (const note of answer.notes || []) this.say(` ${spoken(note.message)}`, { append: true });
    this.say(uncertain ? ` Not certain: ${count} ${count === 1 ? "clause that may answer is" : "clauses that may answer are"} listed as places to look.`
      : ` ${count} ${count === 1 ? "source is" : "sources are"} listed below the answer.`, { append: true });
  }

  /** Under the question, what was searched when it differs from what was typed: a misspelt word read as the
   * documents' word ('servce' -> 'service'), or a follow-up with the earlier questions it needs. */
  showSearched(answer) {
    const searched = answer.standalone_question;
    if (!searched || searched === this.question) return;
    this.root.querySelector(".question").append(el("p", { class: "searched-for muted small", text: `Searched for: ${searched}` }));
  }

  showRefusal(answer) {
    this.reply.className = "reply refusal";
    this.label.textContent = "Not in the documents";
    this.textNode.replaceChildren(answer.answer);
    const places = answer.passages.slice(0, 5);
    if (places.length) {
      this.reply.append(el("section", { class: "sources places" }, el("h4", { class: "sources-title", text: "Places to look" }),
        el("ol", { class: "source-list" }, places.map((p) => el("li", {}, this.passageButton(answer, p))))));
    }
    this.say(` Not in the documents.${places.length ? " The closest passages are listed as places to look." : ""}`, { append: Boolean(this.text) });
  }

  /** A small line under the answer for each note: a cited document overdue for review, superseded, not yet in force,
   * or disagreeing with another document (its sentence is a citation, so its chip opens it). */
  notes(answer) {
    const list = el("ul", { class: "answer-notes small", "aria-label": "Notes on the sources" },
      answer.notes.map((note) => el("li", { class: `answer-note note-${note.kind}` }, ...markedUp(note.message, answer.citations))));
    list.addEventListener("click", (event) => this.chipClicked(event));
    return list;
  }

  sources(answer, title = "Sources") {
    return el("section", { class: "sources" }, el("h4", { class: "sources-title", text: title }),
      el("ol", { class: "source-list" }, answer.citations.map((c) => el("li", {}, this.citationButton(answer, c)))));
  }

  citationButton(answer, citation) {
    const button = el("button", { type: "button", class: "source", "data-n": citation.n },
      el("span", { class: "source-n", "aria-hidden": "true", text: citation.n }),
      el("span", { class: "source-body" },
        el("span", { class: "source-title" }, el("span", { class: "sr-only", text: `Source ${citation.n}: ` }), citation.title),
        el("span", { class: "source-where", text: whereLabel(citation) }),
        el("span", { class: "source-quote", text: `“${citation.quote.trim()}”` })));
    button.addEventListener("click", () => this.actions.openCitation(answer, citation.n, button));
    return button;
  }

  passageButton(answer, passage) {
    const button = el("button", { type: "button", class: "source", "data-rank": passage.rank },
      el("span", { class: "source-n", "aria-hidden": "true", text: passage.rank }),
      el("span", { class: "source-body" },
        el("span", { class: "source-title", text: passage.title }),
        el("span", { class: "source-where", text: whereLabel(passage) }),
        el("span", { class: "source-quote", text: snippet(passage.text) })));
    button.addEventListener("click", () => this.actions.openPassage(answer, passage.rank, button));
    return button;
  }

  chipClicked(event) {
    const target = event.target.closest(".chip");
    if (!target || !this.answer || target.getAttribute("aria-disabled") === "true") return;
    this.actions.openCitation(this.answer, Number(target.dataset.n), target);
  }

  /** The failure of this turn, with what to do next. */
  fail(error) {
    this.reply.className = "reply failed";
    this.reply.removeAttribute("aria-busy");
    this.reply.setAttribute("role", "alert");
    this.label.textContent = "Could not answer";
    const next = error.type === "conversation_full"
      ? el("button", { type: "button", class: "button", text: "Start a new conversation", onclick: () => this.actions.startOver() })
      : el("button", { type: "button", class: "button", text: "Try again", onclick: () => this.actions.retry(this) });
    this.reply.replaceChildren(this.label, el("p", { class: "error-text", text: error.message }), el("p", {}, next));
  }

  /** The stored turn's number: from here on the answer can be rated. */
  setTurn(n) {
    this.n = n;
    if (this.answer && !this.feedback) this.reply.append(this.feedbackGroup());
  }

  feedbackGroup() {
    const id = `comment-${nextId++}`;
    this.thumbs = {
      up: el("button", { type: "button", class: "thumb", "aria-pressed": "false", onclick: () => this.rate("up") }, icon("up"), "Helpful"),
      down: el("button", { type: "button", class: "thumb", "aria-pressed": "false", onclick: () => this.rate("down") }, icon("down"), "Not helpful"),
    };
    this.comment = el("textarea", { id, class: "comment", rows: 2 });
    this.status = el("span", { class: "feedback-status small", role: "status" });
    this.commentForm = el("form", { class: "comment-form", hidden: true },
      el("label", { for: id, class: "small", text: "Add a comment (optional): what was right or wrong?" }), this.comment,
      el("button", { type: "submit", class: "button quiet", text: "Send comment" }));
    this.commentForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.rate(this.rating);
    });
    this.feedback = el("div", { class: "feedback", role: "group", "aria-label": "Rate this answer" },
      el("span", { class: "feedback-question small", text: "Was this right?" }), this.thumbs.up, this.thumbs.down, this.status,
      this.commentForm);
    return this.feedback;
  }

  /** Show an earlier rating (a reopened conversation). */
  showRating(rating, comment) {
    if (!this.feedback) return;
    this.rating = rating;
    this.comment.value = comment || "";
    this.pressed(rating);
  }

  pressed(rating) {
    for (const [name, button] of Object.entries(this.thumbs)) button.setAttribute("aria-pressed", String(name === rating));
    this.commentForm.hidden = false;
  }

  async rate(rating) {
    this.status.className = "feedback-status small";
    this.status.textContent = "Saving…";
    try {
      await this.actions.rate(this.n, rating, this.comment.value);
      this.rating = rating;
      this.pressed(rating);
      this.status.textContent = this.comment.value.trim() ? "Thanks: your rating and comment are saved." : "Thanks: your rating is saved.";
    } catch (error) {
      this.status.className = "feedback-status small error-text";
      this.status.textContent = error.message;
    }
  }
}
