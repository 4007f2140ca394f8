"""The property that access control exists for: whatever a key asks, through whichever route, with whatever filters,
history or stream, no response body, streamed event or audit record carries text of a document outside its groups.

Hypothesis draws the key, route, question (free text, or words aimed at the restricted documents: their code
words, the words they share with the staff documents), filters (any document id, empty ones, unknown ones, metadata)
and history; each example is one request to a real uvicorn server. A leak is any run of six words found only in a
forbidden document, its code word, or a `doc_id` field naming it. The echoed question fields are the caller's own
text and are left out of the check. `--leak-examples N` sets the number of requests (the suite's default is small).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rag.access.audit import AuditLog
from rag.assistant import Assistant
from rag.indexing.store import LoadedIndex
from tests.server.access_corpus import BOARD_WORD, HR_WORD, build_with_keys, serving

GROUPS = {"staff": {"staff"}, "hr": {"hr", "staff"}, "board": {"board"}}
ECHOED = {"question", "standalone_question", "query"}  # the caller's own words, sent back
WORDS = [HR_WORD, BOARD_WORD, HR_WORD.title(), "payroll", "records", "expense", "claims", "travel", "office", "kept",
         "years", "hearings", "casework", "restructuring", "board", "approval", "CCTV", "footage", "clause", "1.2",
         "Disciplinary", "Casework", "Procedure", "Paper", "who", "how", "long", "what", "the", "and", "?"]
ROUTES = ["search", "ask", "ask_stream", "chat", "chat_stream", "message", "message_stream", "documents", "document", "original"]


def shingles(text: str, n: int = 6) -> set[str]:
    words = text.split()
    return {" ".join(words[i:i + n]) for i in range(max(0, len(words) - n + 1))}


def strings(obj: Any, parent: dict | None = None) -> list[str]:
    """Every string in a JSON value, the echoed question fields (and a conversation's title, its first question) left out."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, list):
        return [s for item in obj for s in strings(item)]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() if k not in ECHOED and not (k == "title" and "turn_count" in obj) for s in strings(v, obj)]
    return []


def doc_ids(obj: Any) -> set[str]:
    if isinstance(obj, list):
        return {d for item in obj for d in doc_ids(item)}
    if isinstance(obj, dict):
        own = {obj["doc_id"]} if isinstance(obj.get("doc_id"), str) else set()
        return own | {d for v in obj.values() for d in doc_ids(v)}
    return set()


def payloads(response: httpx.Response) -> list[Any]:
    """The JSON of a body, or of every `data:` line of a stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return [json.loads(line) for line in lines if line and line != "[DONE]"]
    if response.headers.get("content-type", "").startswith("application/json"):
        return [response.json()]
    return [response.text]  # an original file: its whole text is content


class LeakCheck:
    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        self.forbidden: dict[str, set[str]] = {}
        self.marks: dict[str, set[str]] = {}
        for key, groups in GROUPS.items():
            hidden = {d for d in index.documents if groups.isdisjoint(index.groups_of(d))}
            seen = set().union(*(shingles(index.documents[d].text) for d in index.documents if d not in hidden))
            self.forbidden[key] = hidden
            self.marks[key] = set().union(*(shingles(index.documents[d].text) for d in hidden)) - seen
        assert self.forbidden["staff"] == {"hr/casework.md", "board-restructuring.md"} and self.marks["board"]

    def words_of(self, key: str) -> set[str]:
        hidden = self.forbidden[key]
        return {w for d, w in (("hr/casework.md", HR_WORD), ("board-restructuring.md", BOARD_WORD)) if d in hidden}

    def check(self, key: str, response: httpx.Response) -> None:
        assert response.status_code < 500, response.text
        for payload in payloads(response):
            text = "\n".join(strings(payload))
            leaked = shingles(text) & self.marks[key]
            assert not leaked, f"{key} saw {sorted(leaked)[:2]}"
            assert not any(w in text.lower() for w in self.words_of(key)), f"{key} saw a code word: {text[:300]}"
            assert not doc_ids(payload) & self.forbidden[key], f"{key} saw {doc_ids(payload) & self.forbidden[key]}"


questions = st.one_of(st.text(min_size=1, max_size=120), st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join))


@st.composite
def requests(draw: Any, all_docs: list[str]) -> dict[str, Any]:
    doc_choice = st.sampled_from(all_docs + ["", "nope.md", "hr/", "HR/casework.md"])
    filters = draw(st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "doc_ids": st.lists(doc_choice, max_size=3),
        "metadata": st.dictionaries(st.sampled_from(["access", "owner", "title", "tags", "colour"]),
                                    st.sampled_from(["hr", "board", "staff", "Records Manager", "x"]), max_size=2)})))
    history = draw(st.lists(questions, max_size=4))
    return {"key": draw(st.sampled_from(sorted(GROUPS))), "route": draw(st.sampled_from(ROUTES)), "question": draw(questions),
            "filters": filters, "k": draw(st.one_of(st.none(), st.integers(1, 50))), "doc": draw(doc_choice),
            "history": [{"role": ("user", "assistant")[i % 2], "content": c} for i, c in enumerate(history[: len(history) // 2 * 2])]}


def send(client: httpx.Client, conversations: dict[str, str], r: dict[str, Any]) -> httpx.Response:
    body: dict[str, Any] = {"question": r["question"]}
    if r["filters"] is not None:
        body["filters"] = r["filters"]
    if r["k"] is not None:
        body["k"] = r["k"]
    route, stream = r["route"].removesuffix("_stream"), r["route"].endswith("_stream")
    if route == "search":
        return client.post("/v1/search", json=body)
    if route == "ask":
        return client.post("/v1/ask", json={**body, "history": r["history"], "stream": stream})
    if route == "chat":
        messages = [*r["history"], {"role": "user", "content": r["question"]}]
        return client.post("/v1/chat/completions", json={"messages": messages, "stream": stream, "filters": r["filters"], "k": r["k"]})
    if route == "message":
        return client.post(f"/v1/conversations/{conversations[r['key']]}/messages", json={**body, "stream": stream})
    if route == "documents":
        return client.get("/v1/documents")
    path = "/v1/documents/" + r["doc"] + ("/original" if route == "original" else "")
    return client.get(path)


def test_no_key_ever_sees_another_groups_text(settings, fake_embedder, request):
    examples = request.config.getoption("--leak-examples")
    settings = settings.replace(rate_limit=0.0, conversation_max_turns=10000, conversations_per_owner=1000)
    keys = build_with_keys(settings, fake_embedder)
    assistant = Assistant(settings, embedder=fake_embedder)
    check = LeakCheck(assistant.snapshot.index)
    all_docs = sorted(assistant.snapshot.index.documents)
    sent = {"requests": 0}
    with serving(settings, assistant) as base:
        clients = {name: httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {getattr(keys, name)}"})
                   for name in GROUPS}
        conversations = {name: c.post("/v1/conversations", json={}).json()["id"] for name, c in clients.items()}

        @hsettings(max_examples=examples, deadline=None, database=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(requests(all_docs))
        def one_request(r: dict[str, Any]) -> None:
            sent["requests"] += 1
            check.check(r["key"], send(clients[r["key"]], conversations, r))

        one_request()
        for name, client in clients.items():  # the stored conversations, read back whole
            check.check(name, client.get(f"/v1/conversations/{conversations[name]}"))
        for client in clients.values():
            client.close()
    names = {"staff": "staffer", "hr": "hr-lead", "board": "director"}
    records = list(AuditLog(settings).records())
    for key, name in names.items():
        mine = [r for r in records if r.key == name]
        assert not {d for r in mine for d in r.documents} & check.forbidden[key]
        assert not {c for r in mine for c in r.chunks} & {c.chunk_id for c in check.index.chunks if c.doc_id in check.forbidden[key]}
        hidden = check.forbidden[key]
        assert all(name not in {r.key for r in AuditLog(settings).search(d)} for d in hidden)
    print(f"leak test: {sent['requests']} generated requests, {len(records)} audit records, no leak")
    assert sent["requests"] >= examples * 0.9 and records
