"""Generated answers over HTTP (RAG_ANSWERER=openai against the scripted server): /v1/ask, its stream, the OpenAI API
with the `openai` client, conversations, errors in the one error shape, and a client that leaves stopping the model."""

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from rag.assistant import Assistant
from server.app import create_app
from server.openai_api import ChatCompletionOut
from server.schemas import AnswerOut, TurnOut
from tests.e2e_helpers import free_port
from tests.generate.fake_llm import FakeLLM, Script, passage_number, words
from tests.server.access_corpus import serving
from tests.server.test_app import assert_error
from tests.server.test_chat_api import events_of

QUESTION = "How long is CCTV footage kept?"
TRUE = "CCTV footage is kept for 30 days unless it is needed for an investigation"


def reply(*sentences: str, delay: float = 0.0) -> Script:
    return Script(lambda body: words(" ".join(f"{s} [{passage_number(body, 'CCTV footage')}]." for s in sentences)), delay=delay)


@pytest.fixture
def llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def generating(built, settings, fake_embedder, llm):
    gen = settings.replace(answerer="openai", llm_base_url=llm.url, llm_model="fake-model", llm_timeout=10.0)
    with TestClient(create_app(gen, Assistant(gen, embedder=fake_embedder))) as client:
        yield client


def test_ask_returns_the_generated_answer_with_its_report(generating, llm):
    llm.reply(reply(TRUE, "CCTV footage is kept for 90 days"))
    body = generating.post("/v1/ask", json={"question": QUESTION}).json()
    AnswerOut.model_validate(body)
    assert body["backend"] == "openai" and body["model"] == "fake-model" and body["answer"] == f"{TRUE}. [1]"
    assert [(s["kept"], s["citations"]) for s in body["sentences"]] == [(True, [1]), (False, [])]
    assert body["sentences"][1]["reason"].startswith("90 not in [") and body["citations"][0]["quote"].startswith("2.2 CCTV")


def test_the_event_stream_sends_verified_sentences_only(generating, llm):
    llm.reply(reply(TRUE, "CCTV footage is kept for 90 days", TRUE.replace("30 days", "30 days at most")))
    with generating.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
        events = events_of(response.read().decode())
    deltas = [data["text"] for name, data in events if name == "delta"]
    answer = dict(events)["answer"]
    assert [name for name, _ in events][-3:] == ["citations", "answer", "done"] and len(deltas) == 2
    assert "".join(deltas) == answer["answer"] and "90 days" not in answer["answer"]


def test_chat_completions_and_conversations_carry_the_generated_answer(generating, llm):
    llm.reply(reply(TRUE), reply(TRUE))
    body = generating.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}).json()
    ChatCompletionOut.model_validate(body)
    assert body["choices"][0]["message"]["content"] == f"{TRUE}. [1]" == body["answer"]["answer"]
    conversation = generating.post("/v1/conversations", json={}).json()["id"]
    turn = generating.post(f"/v1/conversations/{conversation}/messages", json={"question": QUESTION}).json()
    TurnOut.model_validate(turn)
    stored = generating.get(f"/v1/conversations/{conversation}").json()["turns"][0]["answer"]
    assert stored["backend"] == "openai" and stored["sentences"] == turn["answer"]["sentences"]


def test_a_down_model_with_fallback_error_is_the_one_error_shape(built, settings, fake_embedder):
    down = settings.replace(answerer="openai", llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_model="m",
                            llm_fallback="error")
    with TestClient(create_app(down, Assistant(down, embedder=fake_embedder))) as client:
        assert "RAG_LLM_BASE_URL" in assert_error(client.post("/v1/ask", json={"question": QUESTION}), 503, "llm_unavailable")
        with client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
            events = events_of(response.read().decode())
        assert events[-1] == ("error", {"error": {"type": "llm_unavailable", "message": events[-1][1]["error"]["message"], "status": 503}})
        fallback = settings.replace(answerer="openai", llm_base_url=down.llm_base_url, llm_model="m")
    with TestClient(create_app(fallback, Assistant(fallback, embedder=fake_embedder))) as client:
        body = client.post("/v1/ask", json={"question": QUESTION}).json()
        assert body["backend"] == "extractive" and body["fallback"]["reason"] == "unreachable" and "[1]" in body["answer"]


@pytest.fixture
def live(built, settings, fake_embedder, llm):
    gen = settings.replace(answerer="openai", llm_base_url=llm.url, llm_model="fake-model", llm_timeout=30.0)
    with serving(gen, Assistant(gen, embedder=fake_embedder)) as base:
        yield base


def test_the_openai_client_streams_verified_sentences(live, llm):
    llm.reply(reply(TRUE, "CCTV footage is kept for 90 days"))
    client = openai.OpenAI(base_url=f"{live}/v1", api_key="unused", max_retries=0)
    chunks = list(client.chat.completions.create(model="policy-assistant", stream=True, messages=[{"role": "user", "content": QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == f"{TRUE}. [1]" == chunks[-1].model_extra["answer"]["answer"]
    assert chunks[-1].model_extra["answer"]["sentences"][1]["kept"] is False


def test_a_client_that_leaves_stops_the_generation(live, llm):
    slow = Script(lambda body: words(f"{TRUE} [{passage_number(body, 'CCTV footage')}]. " + "More words follow here " * 60),
                  delays=[0.0] * 20 + [0.05] * 300)
    llm.reply(slow)
    with httpx.stream("POST", f"{live}/v1/ask", json={"question": QUESTION, "stream": True}, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                assert TRUE in line
                break  # the first verified sentence arrived: leave
    assert llm.aborted.wait(10), "the model went on writing after the client left"
    assert llm.sent < 200
