"""In-process HTTP tests (FastAPI TestClient) with the fake embedder."""

import pytest
from fastapi.testclient import TestClient

from rag.assistant import Assistant
from server.app import create_app
from server.schemas import AnswerOut, SearchOut


@pytest.fixture
def client(built, settings, fake_embedder):
    app = create_app(settings, Assistant(settings, embedder=fake_embedder))
    with TestClient(app) as c:
        yield c


def assert_error(response, status, kind=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "status"}
    assert body["error"]["status"] == status and body["error"]["message"]
    if kind:
        assert body["error"]["type"] == kind
    return body["error"]["message"]


def test_ask_returns_a_grounded_answer(client, built):
    response = client.post("/v1/ask", json={"question": "How long is CCTV footage kept?"})
    assert response.status_code == 200
    body = response.json()
    AnswerOut.model_validate(body)
    assert body["build_id"] == built.build_id and not body["abstained"]
    citation = body["citations"][0]
    doc = client.get(f"/v1/documents/{citation['doc_id']}").json()
    assert doc["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_search_returns_ranked_passages(client):
    response = client.post("/v1/search", json={"question": "payroll records", "k": 2, "filters": {"doc_ids": ["retention.md"]}})
    assert response.status_code == 200
    body = response.json()
    SearchOut.model_validate(body)
    assert [p["rank"] for p in body["passages"]] == [1, 2]
    assert {p["doc_id"] for p in body["passages"]} == {"retention.md"}


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ({"question": ""}, "question: is empty: ask about the documents"),
        ({"question": "x" * 1001}, "shorten it to the point you want answered (the limit is RAG_MAX_QUESTION_CHARS)"),
        ({"question": 5}, "question"),
        ({}, "question"),
        ({"question": "ok", "colour": "red"}, "colour"),
        ({"question": "ok", "k": 0}, "k"),
        ({"question": "ok", "k": "three"}, "k"),
        ({"question": "ok", "filters": {"doc_ids": "retention.md"}}, "doc_ids"),
        ({"question": "ok", "filters": {"owner": "x"}}, "owner"),
        ({"question": "   "}, "empty"),
    ],
)
def test_bad_requests_get_one_error_shape(client, payload, fragment):
    for path in ("/v1/ask", "/v1/search"):
        message = assert_error(client.post(path, json=payload), 422)
        assert fragment in message


@pytest.mark.parametrize("filters", [{"doc_ids": ["nope.md"]}, {"doc_ids": [""]}, {"metadata": {"colour": "blue"}}])
def test_filters_naming_no_document_find_nothing(client, filters):
    assert client.post("/v1/search", json={"question": "payroll", "filters": filters}).json()["passages"] == []
    assert client.post("/v1/ask", json={"question": "payroll", "filters": filters}).json()["abstained"]


def test_malformed_json_and_wrong_content(client):
    message = assert_error(client.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"}), 400, "invalid_json")
    assert "content-type: application/json" in message and '{"question": ' in message
    chat = assert_error(client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}),
                        400, "invalid_json")
    assert '"messages": [{"role": "user"' in chat and '{"question"' not in chat  # the example fits the route
    assert_error(client.post("/v1/ask", content=b"[1, 2]", headers={"content-type": "application/json"}), 422)
    no_header = assert_error(client.post("/v1/ask", content=b'{"question": "x"}'), 422, "invalid_request")
    assert "content-type: application/json" in no_header


def test_unknown_document_route_and_method(client):
    assert "GET /v1/documents" in assert_error(client.get("/v1/documents/missing.md"), 404, "not_found")
    assert "POST /v1/ask" in assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    wrong_method = client.get("/v1/ask")
    assert "GET is not allowed on /v1/ask (use POST)" in assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"


def test_documents_list_and_nested_ids(client):
    docs = client.get("/v1/documents").json()
    assert {d["doc_id"] for d in docs} == {"conduct.html", "retention.md", "travel.txt"}
    detail = client.get("/v1/documents/retention.md").json()
    assert detail["metadata"]["version"] == "1.2" and detail["sections"][0]["start"] == 0


def test_health_and_readiness(client, built):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["build_id"] == built.build_id


def test_not_ready_without_an_index(settings, fake_embedder):
    app = create_app(settings, Assistant(settings, embedder=fake_embedder))
    with TestClient(app) as c:
        assert "rag index build" in assert_error(c.get("/readyz"), 503, "index_not_found")
        assert_error(c.post("/v1/ask", json={"question": "anything"}), 503, "index_not_found")
        assert c.get("/healthz").status_code == 200


def test_openapi_documents_the_api_with_examples(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/ask", "/v1/search", "/v1/documents/{doc_id}", "/healthz", "/readyz"} <= set(schema["paths"])
    query = schema["components"]["schemas"]["QueryIn"]
    assert query["examples"][0]["question"] and query["additionalProperties"] is False
    assert schema["components"]["schemas"]["AnswerOut"]["properties"]["citations"]


def test_original_file_is_served_as_indexed(client, settings):
    detail = client.get("/v1/documents/retention.md").json()
    assert detail["original_url"] == "/v1/documents/retention.md/original" and detail["page_starts"] == []
    response = client.get(detail["original_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "text/markdown"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.content == (settings.corpus_dir / "retention.md").read_bytes()
    html = client.get("/v1/documents/conduct.html/original")
    assert html.headers["content-disposition"].startswith("attachment")
    assert "not_found" == client.get("/v1/documents/nope.pdf/original").json()["error"]["type"]


def test_metadata_filter_matches_one_item_of_a_list_value(settings, fake_embedder):
    from rag.indexing import builds

    (settings.corpus_dir / "desk.md").write_text("---\ntitle: Clean Desk Rules\ntags: [security, paper]\n---\n"
                                                 "Lock confidential paper away at night in a locked drawer.\n")
    builds.promote(settings.index_dir, builds.build(settings, fake_embedder).build_id)
    app = create_app(settings, Assistant(settings, embedder=fake_embedder))
    with TestClient(app) as c:
        body = c.post("/v1/search", json={"question": "locked drawer", "filters": {"metadata": {"tags": "Paper"}}}).json()
        assert {p["doc_id"] for p in body["passages"]} == {"desk.md"}
        assert c.post("/v1/search", json={"question": "locked drawer", "filters": {"metadata": {"tags": "travel"}}}).json()["passages"] == []


def test_corpus_health_is_the_cli_report(client, built, settings):
    from datetime import date

    from rag.indexing.builds import load_current
    from rag.lifecycle.health import check_corpus

    response = client.get("/v1/corpus/health", params={"today": "2030-01-01"})
    assert response.status_code == 200
    assert response.json() == json_round_trip(check_corpus(load_current(settings), date(2030, 1, 1)).to_dict())
    assert_error(client.get("/v1/corpus/health", params={"today": "next week"}), 422, "invalid_request")


def json_round_trip(value):  # type: ignore[no-untyped-def]
    import json

    return json.loads(json.dumps(value))
