// The key prompt: a modal dialog that asks for an API key when the server answers 401, checks it with the server
// before keeping it (a refused key says so in the dialog and keeps it open), and gives focus back where it was.
// Escape or "Not now" declines: the calls that needed the key fail with a message that says how to give one, and so
// do later ones (no dialog springs up again by itself) until the person selects "Enter a key".
// Also owns the top bar's "Enter a key" and "Sign out" buttons (sign out forgets the key and starts the page afresh).
// The key is only ever read from the password field and handed to api.js: it is never logged or put in the address.

import { ApiError, apiKey, checkKey, forgetKey, keepKey } from "./api.js";

const $ = (id) => document.getElementById(id);

const REFUSED = "The server refused this key. Check that you pasted all of it (it is the last line that rag keys add "
  + "printed, starting rag_), or ask whoever runs the assistant for a new one.";
const NO_LONGER = "The key this tab was using is no longer accepted (it may have been revoked): enter another.";
const EMPTY = "Paste your API key into the box first.";
export const DECLINED = "This assistant needs an API key to answer. Select “Enter a key” at the top of the page to give one.";

function declined() {
  return new ApiError(DECLINED, { status: 401, type: "unauthorized" });
}

export class KeyPrompt {
  constructor() {
    this.dialog = $("key-dialog");
    this.form = $("key-form");
    this.input = $("key-input");
    this.error = $("key-error");
    this.submit = $("key-submit");
    this.signIn = $("sign-in");
    this.signOut = $("sign-out");
    this.pending = null;  // {resolve, reject} while the dialog is open
    this.declined = false;  // declined once: calls fail without asking until "Enter a key"
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.tryKey(); });
    $("key-cancel").addEventListener("click", () => this.decline());
    this.dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      event.stopPropagation();  // the page's own Escape (close the document panel) waits for the dialog
      this.decline();
    });
    this.dialog.addEventListener("cancel", (event) => { event.preventDefault(); this.decline(); });
    this.signIn.addEventListener("click", () => {
      this.declined = false;
      this.ask(false).then(() => location.reload(), () => {});
    });
    this.signOut.addEventListener("click", () => this.forget());
    this.showButtons(false);
  }

  get isOpen() {
    return this.dialog.open;
  }

  /** Open the dialog (refused: the key in use was turned down); settles once a key is kept, rejects if declined. */
  ask(refused) {
    if (this.pending) return this.pending.promise;
    if (this.declined) return Promise.reject(declined());
    this.returnTo = document.activeElement;
    if (refused) forgetKey();
    let pending;
    const promise = new Promise((resolve, reject) => { pending = { resolve, reject }; });
    this.pending = { ...pending, promise };
    this.showError(refused ? NO_LONGER : "");
    this.input.value = "";
    this.dialog.showModal();
    this.input.focus();
    return promise;
  }

  async tryKey() {
    const key = this.input.value.trim();
    if (!key) return this.showError(EMPTY);
    this.submit.disabled = true;
    this.submit.textContent = "Checking…";
    const refused = await checkKey(key);
    this.submit.disabled = false;
    this.submit.textContent = "Use this key";
    if (refused) {
      this.showError(refused.status === 401 ? REFUSED : refused.message);
      this.input.select();
      return;
    }
    keepKey(key);
    this.finish().resolve();
  }

  decline() {
    if (!this.pending) return;
    this.declined = true;
    this.finish().reject(declined());
  }

  /** Close the dialog, give focus back, and hand over the pending promise's callbacks. */
  finish() {
    const pending = this.pending;
    this.pending = null;
    this.input.value = "";
    this.dialog.close();
    this.showButtons(!apiKey());
    const back = this.returnTo && this.returnTo.isConnected && this.returnTo !== document.body ? this.returnTo : $("question");
    back.focus();
    return pending;
  }

  forget() {
    forgetKey();
    location.replace(location.pathname);  // afresh, without the open conversation: it belongs to the key
  }

  showButtons(needed) {
    this.signOut.hidden = !apiKey();
    this.signIn.hidden = !needed;
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
    if (message) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
  }
}
