// The HTTP API as the page uses it: JSON calls, answers streamed as server-sent events over fetch, original files as
// blobs, and one error type whose message says what to do next (the server's own message when it sent one). Owns the
// API key of this tab: kept in sessionStorage (gone when the tab closes, never in localStorage or the address), sent as
// `Authorization: Bearer` on every call; a 401 asks the key prompt (`onKeyNeeded`) for one and sends the call again.
// With no key kept and a server that needs none, calls go exactly as they did before keys existed.

const OWNER_KEY = "rag.owner";
const KEY_SLOT = "rag.key";

export class ApiError extends Error {
  constructor(message, { status = 0, type = "network" } = {}) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** Who this browser is to the server (the X-Rag-Owner header): a random name kept in this browser, so each browser
 * sees its own conversations. Not a login: the access-control work will replace it. */
function browserOwner() {
  try {
    const kept = localStorage.getItem(OWNER_KEY);
    if (kept) return kept;
  } catch { /* storage off: a name for this visit only */ }
  const bytes = crypto.getRandomValues(new Uint8Array(12));  // works on plain http, unlike randomUUID
  const name = "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  try { localStorage.setItem(OWNER_KEY, name); } catch { /* as above */ }
  return name;
}

const owner = browserOwner();
let keptKey = "";  // the key when sessionStorage is off
let askForKey = null;  // (refused: boolean) => Promise that settles once a key is kept, or rejects when declined
let asking = null;

/** The API key this tab uses ("" when none). */
export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_SLOT) || "";
  } catch {
    return keptKey;
  }
}

export function keepKey(key) {
  keptKey = key;
  try { sessionStorage.setItem(KEY_SLOT, key); } catch { /* storage off: kept while the page is open */ }
}

export function forgetKey() {
  keptKey = "";
  try { sessionStorage.removeItem(KEY_SLOT); } catch { /* as above */ }
}

/** Who to ask for a key when the server answers 401: `prompt(refused)`, refused when the key sent was turned down. */
export function onKeyNeeded(prompt) {
  askForKey = prompt;
}

function authorization(key) {
  return key ? { authorization: `Bearer ${key}` } : {};
}

function headers(json, accept = "application/json") {
  const out = { "X-Rag-Owner": owner, accept };  // send() adds the key
  if (json) out["content-type"] = "application/json";
  return out;
}

/** fetch(`path`) with this tab's key; on a 401, get a key from the prompt and send it again. A network failure is
 * `unreachable()`; an aborted call rethrows the abort. */
async function send(path, init) {
  for (;;) {
    const sent = apiKey();
    let response;
    try {
      response = await fetch(path, { ...init, headers: { ...init.headers, ...authorization(sent) } });
    } catch (err) {
      if (init.signal && init.signal.aborted) throw err;
      throw unreachable();
    }
    if (response.status !== 401 || !askForKey) return response;
    await response.arrayBuffer().catch(() => {});  // read the refusal to its end: the request completes, not aborted
    if (apiKey() === sent) await promptOnce(Boolean(sent));  // else another call already got a new key: retry
  }
}

function promptOnce(refused) {
  if (!asking) asking = askForKey(refused).finally(() => { asking = null; });
  return asking;
}

/** Whether the server accepts `key`: null when it does, else the ApiError it answered (401 for a refused key). */
export async function checkKey(key) {
  let response;
  try {
    response = await fetch("/v1/conversations", { headers: { accept: "application/json", ...authorization(key) } });
  } catch {
    return unreachable();
  }
  if (!response.ok) return errorOf(response);
  await response.arrayBuffer().catch(() => {});  // read to its end, so a reload just after does not abort it
  return null;
}

export function unreachable() {
  return new ApiError("Cannot reach the assistant. Check that the server is running (make run starts it) and that "
    + "this address is right, then try again.");
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON: a proxy or another server answered */ }
  const error = body && body.error;
  if (error && error.message) return new ApiError(error.message, { status: response.status, type: error.type });
  return new ApiError(`The server answered ${response.status} ${response.statusText}: check that this address serves `
    + "the assistant, then try again.", { status: response.status, type: "http_error" });
}

/** `method path` with an optional JSON body; the parsed reply (null for 204), or an ApiError. */
export async function call(method, path, body) {
  const response = await send(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

/** POST the FormData `form` (a multipart upload) to `path`; the parsed reply, or an ApiError. */
export async function upload(path, form) {
  const response = await send(path, { method: "POST", headers: headers(false), body: form });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/** The file at `path` (an original document) as a Blob, fetched with this tab's key; or an ApiError. */
export async function fetchBlob(path) {
  const response = await send(path, { method: "GET", headers: headers(false, "*/*") });
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}

/** A document path with each segment of its id escaped (ids are paths: "policies/travel.md"). */
export function documentPath(docId) {
  return "/v1/documents/" + docId.split("/").map(encodeURIComponent).join("/");
}

/** POST `body` to `path` with stream: true and yield its events as {event, data}; an `error` event, a refused request
 * or a connection that closes before `done` is an ApiError. */
export async function* stream(path, body, signal) {
  let response;
  try {
    response = await send(path, { method: "POST", headers: headers(true, "text/event-stream"),
      body: JSON.stringify({ ...body, stream: true }), signal });
  } catch (err) {
    if (signal && signal.aborted) return;
    throw err;
  }
  if (!response.ok) throw await errorOf(response);
  let done = false;
  for await (const item of frames(response.body)) {  // read to the end after `done`: the response completes cleanly
    if (item.event === "error") throw new ApiError(item.data.error.message, { status: item.data.error.status, type: item.data.error.type });
    if (item.event === "done") done = true;
    else if (!done) yield item;
  }
  if (!done && !(signal && signal.aborted)) {
    throw new ApiError("The answer was cut off: the connection closed before it ended. Try again.", { type: "cut_off" });
  }
}

async function* frames(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let ended = false;
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch {
        return;  // the connection broke: the caller reports a cut-off answer
      }
      if (chunk.done) {
        ended = true;
        return;
      }
      buffer += chunk.value.replace(/\r\n?/g, "\n");
      for (let cut = buffer.indexOf("\n\n"); cut >= 0; cut = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const parsed = parseFrame(block);
        if (parsed) yield parsed;
      }
    }
  } finally {
    if (!ended) reader.cancel().catch(() => {});  // the caller stopped early: let the connection go
  }
}

function parseFrame(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
}
