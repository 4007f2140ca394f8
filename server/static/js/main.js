// The chat page: asking (Enter sends, Shift+Enter adds a line), streaming each answer into its turn, stored
// conversations (new, open, continue, delete; the open one is in the address as #conversation=ID), the scope sent
// with each question, feedback, the document panel, the key prompt when the server needs a key, and the Corpus view
// for keys that may administer (corpus.js). The page talks only to this origin's /v1 API.

import { call, onKeyNeeded, stream } from "./api.js";
import { TurnView } from "./answer.js";
import { ConversationList } from "./conversations.js";
import { CorpusView } from "./corpus.js";
import { announce } from "./dom.js";
import { DocumentPanel, citationSpans, passageSpans } from "./documents.js";
import { KeyPrompt } from "./key.js";
import { Scope } from "./scope.js";

const $ = (id) => document.getElementById(id);
const layout = $("layout");
const turns = $("turns");
const intro = $("intro");
const question = $("question");
const send = $("send");
const banner = $("banner");
const toggle = $("toggle-sidebar");
const HASH = "#conversation=";
const SCOPE_KEY = "rag.scope.";

const state = { conversationId: null, views: new Map(), controller: null };

const keyPrompt = new KeyPrompt();
onKeyNeeded((refused) => keyPrompt.ask(refused));
const panel = new DocumentPanel(layout);
const corpus = new CorpusView($("main"), (job) => panel.seeBuild(job.build_id));
const scope = new Scope((filters) => keepScope(state.conversationId, filters));
const list = new ConversationList({
  open: (id) => openConversation(id),
  deleted: (id) => { if (id === state.conversationId) startOver(); },
});

const actions = {
  openCitation(answer, n, opener) {
    const { spans, index } = citationSpans(answer, n);
    panel.open(spans, index, opener);
  },
  openPassage(answer, rank, opener) {
    const { spans, index } = passageSpans(answer, rank);
    panel.open(spans, index, opener);
  },
  rate: (n, rating, comment) => call("POST", "/v1/feedback", { conversation_id: state.conversationId, turn: n, rating, comment }),
  retry(view) {
    view.root.remove();
    ask(view.question);
  },
  startOver: () => startOver(),
};

function keepScope(id, filters) {
  if (!id) return;
  try {
    if (filters) localStorage.setItem(SCOPE_KEY + id, JSON.stringify(filters));
    else localStorage.removeItem(SCOPE_KEY + id);
  } catch { /* storage off: the scope lasts while the page is open */ }
}

function keptScope(id) {
  try {
    return JSON.parse(localStorage.getItem(SCOPE_KEY + id) || "null");
  } catch {
    return null;
  }
}

function setBusy(controller) {
  state.controller = controller;
  send.disabled = Boolean(controller);
}

function stopAnswering() {
  if (state.controller) state.controller.abort();
  setBusy(null);
}

function showBanner(message) {
  banner.textContent = message;
  banner.hidden = !message;
}

async function conversationFor() {
  if (state.conversationId) return state.conversationId;
  const created = await call("POST", "/v1/conversations", {});
  state.conversationId = created.id;
  history.replaceState(null, "", HASH + encodeURIComponent(created.id));
  keepScope(created.id, scope.filters());
  list.select(created.id);
  return created.id;
}

/** Ask `text` in the open conversation (starting one first if none is open) and stream the answer in. */
async function ask(text) {
  const clean = text.trim();
  if (!clean || state.controller) return;
  const controller = new AbortController();
  setBusy(controller);
  intro.hidden = true;
  const view = new TurnView(clean, actions);
  turns.append(view.root);
  view.root.scrollIntoView({ block: "end" });
  try {
    const id = await conversationFor();
    const body = { question: clean, filters: scope.filters() };
    for await (const { event, data } of stream(`/v1/conversations/${encodeURIComponent(id)}/messages`, body, controller.signal)) {
      if (event === "delta") view.appendText(data.text);
      else if (event === "answer") {
        panel.seeBuild(data.build_id);
        view.finish(data);
      } else if (event === "turn") {
        state.views.set(data.n, view);
        view.setTurn(data.n);
      }
    }
    showBanner("");
    view.root.scrollIntoView({ block: "nearest" });
  } catch (error) {
    if (controller.signal.aborted) return;
    view.fail(error);
    if (!question.value.trim()) question.value = clean;
  } finally {
    if (state.controller === controller) setBusy(null);
    list.refresh();
  }
}

async function openConversation(id) {
  stopAnswering();
  closeSidebar(false);
  let conversation;
  let ratings;
  try {
    const path = encodeURIComponent(id);
    [conversation, ratings] = await Promise.all([call("GET", `/v1/conversations/${path}`), call("GET", `/v1/feedback?conversation_id=${path}`)]);
  } catch (error) {
    showBanner(error.status === 404 ? "That conversation is no longer here: it was deleted, or it expired. Ask a question to start a new one." : error.message);
    if (error.status === 404) startOver();
    return;
  }
  panel.close();
  state.conversationId = id;
  state.views.clear();
  if (location.hash !== HASH + encodeURIComponent(id)) history.replaceState(null, "", HASH + encodeURIComponent(id));
  list.select(id);
  turns.replaceChildren();
  intro.hidden = conversation.turns.length > 0;
  for (const turn of conversation.turns) {
    const view = new TurnView(turn.question, actions, { live: false });
    panel.seeBuild(turn.answer.build_id);
    view.finish(turn.answer);
    view.setTurn(turn.n);
    turns.append(view.root);
    state.views.set(turn.n, view);
  }
  for (const rating of ratings.feedback) state.views.get(rating.turn)?.showRating(rating.rating, rating.comment);
  scope.set(keptScope(id));
  const count = conversation.turns.length;
  announce(`Opened the conversation “${conversation.title || "New conversation"}”: ${count} ${count === 1 ? "question" : "questions"}.`);
  turns.lastElementChild?.scrollIntoView({ block: "start" });
  question.focus({ preventScroll: true });
}

function startOver() {
  stopAnswering();
  if (corpus.isOpen) corpus.close();
  panel.close();
  state.conversationId = null;
  state.views.clear();
  history.replaceState(null, "", location.pathname + location.search);
  turns.replaceChildren();
  intro.hidden = false;
  scope.set(null);
  list.select(null);
  closeSidebar(false);
  question.focus();
}

function openSidebar() {
  layout.classList.add("sidebar-open");
  toggle.setAttribute("aria-expanded", "true");
  (document.querySelector("#conversation-list .conversation-open") || $("sidebar-title")).focus();
}

function closeSidebar(focusToggle) {
  if (!layout.classList.contains("sidebar-open")) return;
  layout.classList.remove("sidebar-open");
  toggle.setAttribute("aria-expanded", "false");
  if (focusToggle) toggle.focus();
}

function hashConversation() {
  return location.hash.startsWith(HASH) ? decodeURIComponent(location.hash.slice(HASH.length)) : null;
}

question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  if (state.controller || !question.value.trim()) return;
  const text = question.value;
  question.value = "";
  ask(text);
});
$("new-conversation").addEventListener("click", () => startOver());
toggle.addEventListener("click", () => (layout.classList.contains("sidebar-open") ? closeSidebar(true) : openSidebar()));
$("main").addEventListener("click", () => closeSidebar(false));  // a tap beside the drawer closes it
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || keyPrompt.isOpen) return;
  if (panel.isOpen) panel.close();
  else if (corpus.isOpen) corpus.close();
  else if (layout.classList.contains("sidebar-open")) closeSidebar(true);
});
window.addEventListener("hashchange", () => {
  const id = hashConversation();
  if (id && id !== state.conversationId) openConversation(id);
});

async function boot() {
  const id = hashConversation();  // read before waiting: a question asked meanwhile puts its own conversation there
  call("GET", "/readyz").catch((error) => showBanner(`The assistant is not ready: ${error.message}`));
  await list.refresh();
  await corpus.detect();
  // a question asked while the page was starting owns the page now: opening would stop its answer and show it empty
  if (id && !state.controller && !state.conversationId) await openConversation(id);
}

boot();
