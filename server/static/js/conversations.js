// The list of this browser's (or this key's) conversations (GET /v1/conversations): open one, delete one, mark the one on screen.

import { apiKey, call } from "./api.js";
import { el, icon } from "./dom.js";

const DATE = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

export class ConversationList {
  constructor(actions) {
    this.actions = actions;  // {open(id), deleted(id)}
    this.list = document.getElementById("conversation-list");
    this.note = document.getElementById("conversations-note");
    this.current = null;
    this.items = [];
  }

  async refresh() {
    try {
      const body = await call("GET", "/v1/conversations");
      this.items = body.conversations;
    } catch (error) {
      this.note.textContent = `The conversations could not be listed: ${error.message}`;
      return;
    }
    const whose = apiKey() ? "your key" : "this browser";  // with a key, conversations belong to the key
    this.note.textContent = this.items.length ? `Kept on this server for ${whose}.` : "None yet: your questions start one.";
    this.render();
  }

  select(id) {
    this.current = id;
    for (const item of this.list.children) {
      const open = item.querySelector(".conversation-open");
      if (item.dataset.id === id) open.setAttribute("aria-current", "true");
      else open.removeAttribute("aria-current");
    }
  }

  render() {
    this.list.replaceChildren(...this.items.map((c) => this.item(c)));
    this.select(this.current);
  }

  item(conversation) {
    const title = conversation.title || "New conversation";
    const turns = `${conversation.turn_count} ${conversation.turn_count === 1 ? "question" : "questions"}`;
    const when = DATE.format(new Date(conversation.updated_at));
    return el("li", { class: "conversation", "data-id": conversation.id },
      el("button", { type: "button", class: "conversation-open", onclick: () => this.actions.open(conversation.id) },
        el("span", { class: "conversation-title", text: title }),
        el("span", { class: "conversation-meta small", text: `${turns} · ${when}` })),
      el("button", { type: "button", class: "conversation-delete", "aria-label": `Delete the conversation “${title}”`,
        title: "Delete", onclick: () => this.remove(conversation, title) }, icon("trash")));
  }

  async remove(conversation, title) {
    if (!window.confirm(`Delete the conversation “${title}”? This cannot be undone.`)) return;
    try {
      await call("DELETE", `/v1/conversations/${encodeURIComponent(conversation.id)}`);
    } catch (error) {
      this.note.textContent = `Not deleted: ${error.message}`;
      return;
    }
    const at = this.items.findIndex((c) => c.id === conversation.id);
    this.items = this.items.filter((c) => c.id !== conversation.id);
    this.render();
    this.note.textContent = `Deleted “${title}”.`;
    this.actions.deleted(conversation.id);
    const next = this.list.children[Math.min(at, this.list.children.length - 1)];
    (next ? next.querySelector(".conversation-open") : document.getElementById("new-conversation")).focus();
  }
}
