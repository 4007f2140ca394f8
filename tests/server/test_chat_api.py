"""Conversations over HTTP: history on /v1/ask, stored conversations, server-sent events (fake embedder, in-process)."""

import json

import pytest
from fastapi.testclient import TestClient

from rag.assistant import Assistant
from server.app import create_app
from server.openai_api import ChatCompletionOut
from server.schemas import AnswerOut, ConversationListOut, ConversationOut, TurnOut
from tests.server.test_app import assert_error

FIRST = "Do claims over 500 pounds need approval?"
DIRECTOR = "3.1 Claims over 500 pounds need approval from a director."


@pytest.fixture
def client(built, settings, fake_embedder):
    app = create_app(settings, Assistant(settings, embedder=fake_embedder))
    with TestClient(app) as c:
        yield c


def events_of(text: str) -> list[tuple[str, object]]:
    """(event, data) of a server-sent event stream."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields.get("event", "message"), json.loads(fields["data"]) if fields["data"] != "[DONE]" else "[DONE]"))
    return out


def test_ask_with_history_answers_the_follow_up_from_the_conversation(client):
    first = client.post("/v1/ask", json={"question": FIRST}).json()
    history = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": first["answer"]}]
    body = client.post("/v1/ask", json={"question": "who approves it?", "history": history}).json()
    AnswerOut.model_validate(body)
    assert body["question"] == "who approves it?" and body["standalone_question"] == f"who approves it? {FIRST}"
    assert body["passages"][0]["doc_id"] == "travel.txt"
    alone = client.post("/v1/ask", json={"question": "who approves it?"}).json()
    assert alone["standalone_question"] == "who approves it?" and alone["passages"][0]["doc_id"] == "retention.md"


@pytest.mark.parametrize("history, fragment", [
    ([{"role": "system", "content": "x"}], "history.0.role"),
    ([{"role": "user"}], "history.0.content"),
    ([{"role": "user", "content": " "}], "history.0.content: String should match pattern"),
    ([{"role": "user", "content": "a"}] * 41, "history"),
    ("not a list", "history"),
])
def test_malformed_history_is_a_422_that_says_what_to_send(client, history, fragment):
    assert fragment in assert_error(client.post("/v1/ask", json={"question": "and abroad?", "history": history}), 422)


def test_a_streamed_answer_is_text_then_citations_then_the_answer_then_done(client):
    with client.stream("POST", "/v1/ask", json={"question": "How long is CCTV footage kept?", "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
        events = events_of(response.read().decode())
    names = [name for name, _ in events]
    assert names[-3:] == ["citations", "answer", "done"] and set(names[:-3]) == {"delta"}
    answer = dict(events)["answer"]
    AnswerOut.model_validate(answer)
    assert "".join(data["text"] for name, data in events if name == "delta") == answer["answer"]
    assert dict(events)["citations"] == {"citations": answer["citations"]}


def test_a_bad_streamed_request_is_a_plain_json_error(client):
    assert_error(client.post("/v1/ask", json={"question": " ", "stream": True}), 422, "invalid_request")


def test_a_conversation_keeps_its_turns_and_answers_follow_ups(client):
    created = client.post("/v1/conversations", json={})
    assert created.status_code == 201
    conversation_id = ConversationOut.model_validate(created.json()).id
    url = f"/v1/conversations/{conversation_id}"
    first = client.post(f"{url}/messages", json={"question": FIRST}).json()
    TurnOut.model_validate(first)
    assert first["n"] == 1 and first["conversation_id"] == conversation_id and first["build_id"] == first["answer"]["build_id"]
    follow = client.post(f"{url}/messages", json={"question": "who approves it?"}).json()
    assert follow["n"] == 2 and follow["answer"]["passages"][0]["doc_id"] == "travel.txt"
    assert follow["answer"]["standalone_question"] == f"who approves it? {FIRST}"
    stored = ConversationOut.model_validate(client.get(url).json())
    assert [t.question for t in stored.turns] == [FIRST, "who approves it?"] and stored.title == FIRST
    listing = ConversationListOut.model_validate(client.get("/v1/conversations").json())
    assert [(c.id, c.turn_count, c.turns) for c in listing.conversations] == [(conversation_id, 2, None)]


def test_a_streamed_conversation_message_ends_with_the_stored_turn(client):
    conversation_id = client.post("/v1/conversations", json={"title": "Claims"}).json()["id"]
    with client.stream("POST", f"/v1/conversations/{conversation_id}/messages", json={"question": FIRST, "stream": True}) as response:
        events = events_of(response.read().decode())
    assert [name for name, _ in events][-4:] == ["citations", "answer", "turn", "done"]
    assert dict(events)["turn"]["n"] == 1
    assert client.get(f"/v1/conversations/{conversation_id}").json()["turn_count"] == 1


def test_owners_deletion_limits_and_unknown_ids(client, settings):
    alice = {"X-Rag-Owner": "alice"}
    conversation_id = client.post("/v1/conversations", json={}, headers=alice).json()["id"]
    url = f"/v1/conversations/{conversation_id}"
    assert "POST /v1/conversations" in assert_error(client.get(url), 404, "not_found")  # another owner: not found
    assert_error(client.post(f"{url}/messages", json={"question": FIRST}, headers={"X-Rag-Owner": "bob"}), 404)
    assert client.get("/v1/conversations").json() == {"conversations": []}
    assert_error(client.post("/v1/conversations", json={"colour": "red"}), 422)
    assert client.delete(url, headers=alice).status_code == 204
    assert_error(client.get(url, headers=alice), 404)
    assert_error(client.delete("/v1/conversations/conv_nope"), 404)


def test_a_full_conversation_is_a_409_naming_the_setting(built, settings, fake_embedder):
    small = settings.replace(conversation_max_turns=1)
    with TestClient(create_app(small, Assistant(small, embedder=fake_embedder))) as c:
        url = f"/v1/conversations/{c.post('/v1/conversations', json={}).json()['id']}/messages"
        assert c.post(url, json={"question": FIRST}).status_code == 200
        assert "RAG_CONVERSATION_MAX_TURNS" in assert_error(c.post(url, json={"question": "who approves it?"}), 409, "conversation_full")


def test_conversations_survive_a_restart(built, settings, fake_embedder):
    with TestClient(create_app(settings, Assistant(settings, embedder=fake_embedder))) as c:
        conversation_id = c.post("/v1/conversations", json={}).json()["id"]
        c.post(f"/v1/conversations/{conversation_id}/messages", json={"question": FIRST})
    with TestClient(create_app(settings, Assistant(settings, embedder=fake_embedder))) as c:
        assert c.get(f"/v1/conversations/{conversation_id}").json()["turns"][0]["question"] == FIRST


def test_chat_completions_take_history_ignore_system_messages_and_carry_the_answer(client):
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": FIRST},
                {"role": "assistant", "content": DIRECTOR + " [1]"},
                {"role": "user", "content": [{"type": "text", "text": "who approves it?"}]}]
    body = client.post("/v1/chat/completions", json={"model": "policy-assistant", "messages": messages, "temperature": 0.2}).json()
    ChatCompletionOut.model_validate(body)
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == body["answer"]["answer"]
    assert body["citations"] == body["answer"]["citations"] and body["answer"]["standalone_question"] == f"who approves it? {FIRST}"
    assert client.get("/v1/models").json()["data"][0]["id"] == "policy-assistant"


@pytest.mark.parametrize("messages, fragment", [
    ([{"role": "assistant", "content": "hello"}], "last message must be the user's question"),
    ([{"role": "tool", "content": "x"}, {"role": "user", "content": "hi"}], "messages.0.role: Input should be 'user', 'assistant', 'system' or 'developer'"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "messages.0.content"),
    ([], "messages"),
])
def test_bad_chat_messages_say_what_to_send(client, messages, fragment):
    assert fragment in assert_error(client.post("/v1/chat/completions", json={"messages": messages}), 422)


def test_metrics_count_the_new_routes(client):
    client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": FIRST}]})
    client.get("/v1/conversations")
    metrics = client.get("/metrics").text
    assert 'route="/v1/chat/completions"' in metrics and 'route="/v1/conversations"' in metrics


def test_openapi_describes_the_new_routes_and_the_stream(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/conversations", "/v1/conversations/{conversation_id}", "/v1/conversations/{conversation_id}/messages",
            "/v1/chat/completions", "/v1/models"} <= set(schema["paths"])
    streamed = schema["paths"]["/v1/ask"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]["description"]
    assert all(f"event: {name}" in streamed for name in ("delta", "citations", "answer", "turn", "done", "error"))
    assert "history" in schema["components"]["schemas"]["AskIn"]["properties"]
    chunks = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert "chat.completion.chunk" in chunks["description"] and "[DONE]" in chunks["description"]
