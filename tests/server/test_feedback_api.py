"""Feedback over HTTP: rate a stored turn, list your ratings, and the errors for bad or unknown input (fake embedder)."""

import pytest
from fastapi.testclient import TestClient

from rag.assistant import Assistant
from server.app import create_app
from server.schemas import FeedbackListOut, FeedbackOut
from tests.server.test_app import assert_error

QUESTION = "How long is CCTV footage kept?"


@pytest.fixture
def client(built, settings, fake_embedder):
    settings = settings.replace(feedback_max_comment_chars=100)
    with TestClient(create_app(settings, Assistant(settings, embedder=fake_embedder))) as c:
        yield c


@pytest.fixture
def turn(client):
    """A stored conversation with one answered turn: (conversation id, its turn)."""
    cid = client.post("/v1/conversations", json={}).json()["id"]
    return cid, client.post(f"/v1/conversations/{cid}/messages", json={"question": QUESTION}).json()


def test_a_rating_is_stored_with_the_turn_and_listed_back(client, turn):
    cid, answered = turn
    response = client.post("/v1/feedback", json={"conversation_id": cid, "turn": 1, "rating": "up", "comment": "spot on"})
    assert response.status_code == 201, response.text
    body = FeedbackOut.model_validate(response.json())
    assert (body.conversation_id, body.turn, body.rating, body.comment, body.question) == (cid, 1, "up", "spot on", QUESTION)
    assert body.build_id == answered["build_id"]
    again = client.post("/v1/feedback", json={"conversation_id": cid, "turn": 1, "rating": "down"}).json()
    assert again["id"] == body.id and again["rating"] == "down"
    listed = FeedbackListOut.model_validate(client.get("/v1/feedback", params={"conversation_id": cid}).json())
    assert [(f.turn, f.rating) for f in listed.feedback] == [(1, "down")]
    stored = client.app.state.assistant.feedback.everyone()
    assert stored[0].answer.to_dict() == answered["answer"] and stored[0].history == ()


@pytest.mark.parametrize("body, status, fragment", [
    ({"conversation_id": "conv_nope", "turn": 1, "rating": "up"}, 404, "GET /v1/conversations"),
    ({"turn": 2, "rating": "up"}, 404, "has no turn 2 (it has 1)"),
    ({"turn": 1, "rating": "meh"}, 422, "rating: Input should be 'up' or 'down'"),
    ({"turn": 0, "rating": "up"}, 422, "turn: Input should be greater than or equal to 1"),
    ({"turn": 1, "rating": "up", "comment": "x" * 101}, 422, "the limit is RAG_FEEDBACK_MAX_COMMENT_CHARS"),
    ({"turn": 1, "rating": "up", "stars": 5}, 422, "stars: Extra inputs are not permitted"),
])
def test_bad_feedback_is_an_error_that_says_what_to_send(client, turn, body, status, fragment):
    cid, _ = turn
    message = assert_error(client.post("/v1/feedback", json={"conversation_id": cid, **body}), status)
    assert fragment in message
    assert client.app.state.assistant.feedback.everyone() == []


def test_only_the_owner_of_a_conversation_can_rate_it_or_see_the_ratings(client, turn):
    cid, _ = turn
    assert_error(client.post("/v1/feedback", json={"conversation_id": cid, "turn": 1, "rating": "up"},
                             headers={"X-Rag-Owner": "mallory"}), 404, "not_found")
    client.post("/v1/feedback", json={"conversation_id": cid, "turn": 1, "rating": "up"})
    assert client.get("/v1/feedback", headers={"X-Rag-Owner": "mallory"}).json() == {"feedback": []}
    assert len(client.get("/v1/feedback").json()["feedback"]) == 1


def test_feedback_routes_are_in_the_openapi_schema_and_the_metrics(client, turn):
    cid, _ = turn
    client.post("/v1/feedback", json={"conversation_id": cid, "turn": 1, "rating": "up"})
    schema = client.get("/openapi.json").json()
    assert {"post", "get"} <= set(schema["paths"]["/v1/feedback"])
    assert schema["components"]["schemas"]["FeedbackIn"]["properties"]["comment"]["maxLength"] == 100
    assert 'rag_requests_total{method="POST",route="/v1/feedback",status="201"} 1.0' in client.get("/metrics").text

