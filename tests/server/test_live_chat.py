"""The chat routes over a real uvicorn server: the `openai` client in both modes, streaming, and disconnects.

The server runs in this process (a uvicorn thread) over the mini corpus and the fake embedder, so the tests can swap
in an answer backend that writes slowly and see that a client who leaves stops it.
"""

import dataclasses
import json
import threading
import time

import httpx
import openai
import pytest

from rag.assistant import Assistant
from rag.chat.streaming import Completed, TextDelta
from tests.server.access_corpus import serving

FIRST = "Do claims over 500 pounds need approval?"


@pytest.fixture
def live(built, settings, fake_embedder):
    assistant = Assistant(settings, embedder=fake_embedder)
    with serving(settings, assistant) as base:
        yield base, assistant


def client_for(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)


def test_the_openai_client_gets_the_answer_and_its_citations(live):
    base, _ = live
    client = client_for(base)
    assert [m.id for m in client.models.list().data] == ["policy-assistant"]
    first = client.chat.completions.create(model="policy-assistant", messages=[{"role": "user", "content": FIRST}],
                                           extra_body={"filters": {"doc_ids": ["travel.txt"]}})
    text = first.choices[0].message.content
    extra = first.model_extra
    assert "[1]" in text and text == extra["answer"]["answer"] and extra["citations"][0]["doc_id"] == "travel.txt"
    assert {p["doc_id"] for p in extra["answer"]["passages"]} == {"travel.txt"}  # filters travelled in extra_body
    follow = client.chat.completions.create(model="policy-assistant", messages=[
        {"role": "system", "content": "Answer briefly."}, {"role": "user", "content": FIRST},
        {"role": "assistant", "content": text}, {"role": "user", "content": "who approves it?"}])
    assert follow.model_extra["answer"]["standalone_question"] == f"who approves it? {FIRST}"
    assert follow.model_extra["answer"]["passages"][0]["doc_id"] == "travel.txt"


def test_the_openai_client_streams_chunks_and_the_last_carries_the_answer(live):
    base, _ = live
    stream = client_for(base).chat.completions.create(model="policy-assistant", stream=True,
                                                      messages=[{"role": "user", "content": "How long is CCTV footage kept?"}])
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.choices for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    answer = chunks[-1].model_extra["answer"]
    assert text == answer["answer"] and "30 days" in text
    assert chunks[-1].model_extra["citations"] == answer["citations"] and answer["citations"][0]["doc_id"] == "retention.md"


def test_an_error_reaches_the_openai_client_as_an_api_error(live):
    base, _ = live
    with pytest.raises(openai.UnprocessableEntityError, match="last message must be the user's question"):
        client_for(base).chat.completions.create(model="policy-assistant", messages=[{"role": "assistant", "content": "hi"}])


def test_sse_headers_and_the_done_marker_over_real_http(live):
    base, _ = live
    with httpx.stream("POST", f"{base}/v1/chat/completions", json={"stream": True, "messages": [{"role": "user", "content": FIRST}]},
                      timeout=30) as response:
        assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    assert "citations" in json.loads(lines[-2][6:])


class SlowBackend:
    """Writes one piece of text at a time, slowly, and notes how far it got and whether it was stopped."""

    name = "slow"

    def __init__(self, pieces: int = 200) -> None:
        self.pieces, self.written, self.closed = pieces, 0, threading.Event()

    def stream(self, question, vector, passages, index, *, allowed, reading=None, history=()):  # type: ignore[no-untyped-def]
        from rag.models import Answer

        try:
            for _ in range(self.pieces):
                self.written += 1
                yield TextDelta("word ")
                time.sleep(0.02)
            yield Completed(Answer(question, "word " * self.pieces, False, (), tuple(passages), index.build_id))
        finally:
            self.closed.set()


@pytest.mark.parametrize("route", ["ask", "conversation"])
def test_a_client_that_disconnects_stops_the_answer_and_nothing_is_stored(live, route):
    base, assistant = live
    backend = SlowBackend()
    assistant._snapshot = dataclasses.replace(assistant.snapshot, backend=backend)
    if route == "ask":
        url, payload = f"{base}/v1/ask", {"question": FIRST, "stream": True}
    else:
        conversation_id = httpx.post(f"{base}/v1/conversations", json={}).json()["id"]
        url, payload = f"{base}/v1/conversations/{conversation_id}/messages", {"question": FIRST, "stream": True}
    with httpx.stream("POST", url, json=payload, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                break  # the first piece arrived: leave
    assert backend.closed.wait(10), "the answer went on after the client left"
    assert backend.written < backend.pieces
    if route == "conversation":
        assert httpx.get(f"{base}/v1/conversations/{conversation_id}").json()["turn_count"] == 0
