// The HTTP API as the page uses it: JSON calls, answers streamed as server-sent events over fetch, and one error type
// whose message says what to do next (the server's own message when it sent one).

const OWNER_KEY = "rag.owner";

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

function headers(json) {
  const out = { "X-Rag-Owner": owner, accept: "application/json" };
  if (json) out["content-type"] = "application/json";
  return out;
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
  let response;
  try {
    response = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw unreachable();
  }
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
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
    response = await fetch(path, { method: "POST", headers: { ...headers(true), accept: "text/event-stream" },
      body: JSON.stringify({ ...body, stream: true }), signal });
  } catch (err) {
    if (signal && signal.aborted) return;
    throw unreachable();
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
