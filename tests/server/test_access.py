"""Access control over a real HTTP server: keys required once one exists, each key sees only its groups' documents
(forbidden answers 404 exactly like missing), admin routes, conversations per key, the audit trail, rate limits,
body limits, security headers, and keys never echoed or logged."""

import json
import logging

import httpx
import pytest

from rag.access.audit import AuditLog
from rag.assistant import Assistant
from tests.server.access_corpus import BOARD_WORD, HR_WORD, build_with_keys, serving


@pytest.fixture
def setup(settings, fake_embedder, tmp_path):
    settings = settings.replace(rate_limit=1000.0, rate_burst=1000)
    keys = build_with_keys(settings, fake_embedder)
    assistant = Assistant(settings, embedder=fake_embedder)
    with serving(settings, assistant) as base:
        yield base, keys, settings


def call(base, key, method, path, headers=None, **kwargs):
    headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    return httpx.request(method, base + path, headers=headers, timeout=30, **kwargs)


def test_a_key_is_required_once_one_exists(setup):
    base, keys, _ = setup
    assert call(base, None, "GET", "/healthz").status_code == 200
    for key in (None, "nonsense", keys.staff[:-2] + "zz", "rag_000000000000_" + "A" * 43):
        response = call(base, key, "POST", "/v1/search", json={"question": "payroll"})
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["type"] == "unauthorized"
        assert (key or "Bearer") not in response.text or key is None
    basic = httpx.post(base + "/v1/search", json={"question": "payroll"}, headers={"Authorization": "Basic " + keys.staff})
    assert basic.status_code == 401 and keys.staff not in basic.text


def test_readiness_is_public_but_tells_a_keyed_server_s_callers_nothing_of_the_build_s_size(setup):
    base, keys, _ = setup
    for key in (None, keys.staff):
        ready = call(base, key, "GET", "/readyz").json()
        assert ready["status"] == "ready" and ready["build_id"] and "documents" not in ready and "chunks" not in ready


def test_each_key_sees_only_its_groups(setup):
    base, keys, _ = setup
    question = {"question": f"How long are payroll records and {HR_WORD} {BOARD_WORD} files kept?", "k": 20}
    seen = {}
    for name in ("staff", "hr", "board", "admin"):
        body = call(base, getattr(keys, name), "POST", "/v1/search", json=question).json()
        seen[name] = {p["doc_id"] for p in body["passages"]}
    assert "hr/casework.md" not in seen["staff"] and "board-restructuring.md" not in seen["staff"]
    assert "hr/casework.md" in seen["hr"] and "board-restructuring.md" not in seen["hr"]
    assert seen["board"] == {"board-restructuring.md"}
    assert {"hr/casework.md", "board-restructuring.md"} <= seen["admin"]
    listed = {d["doc_id"] for d in call(base, keys.staff, "GET", "/v1/documents").json()}
    assert listed == {"conduct.html", "retention.md", "travel.txt"}


def test_the_web_page_and_its_files_load_without_a_key_so_it_can_ask_for_one(setup):
    base, _, _ = setup
    for path in ("/", "/static/js/main.js", "/static/js/api.js", "/static/app.css"):
        assert call(base, None, "GET", path).status_code == 200, path
    assert call(base, None, "GET", "/static/nowhere.js").status_code == 404
    assert call(base, None, "GET", "/v1/conversations").status_code == 401


def test_the_suggestions_of_a_refusal_come_only_from_readable_documents(setup):
    """The closest passages offered in the "not in the documents" state go through the key's scoped retrieval."""
    base, keys, _ = setup
    question = {"question": f"Who approves {HR_WORD} {BOARD_WORD} suspensions on the moon?"}
    for route in ("/v1/ask", "/v1/conversations"):
        if route == "/v1/ask":
            answer = call(base, keys.staff, "POST", route, json=question).json()
        else:
            made = call(base, keys.staff, "POST", route, json={}).json()
            answer = call(base, keys.staff, "POST", f"{route}/{made['id']}/messages", json=question).json()["answer"]
        assert answer["abstained"] is True and answer["passages"], answer
        offered = {p["doc_id"] for p in answer["passages"]}
        assert offered and offered.isdisjoint({"hr/casework.md", "board-restructuring.md"}), offered
    hr = call(base, keys.hr, "POST", "/v1/ask", json=question).json()
    assert "hr/casework.md" in {p["doc_id"] for p in hr["passages"]}  # the same question does reach it with hr


def test_a_forbidden_document_is_exactly_like_a_missing_one(setup):
    base, keys, _ = setup
    for path in ("/v1/documents/{}", "/v1/documents/{}/original"):
        forbidden = call(base, keys.staff, "GET", path.format("hr/casework.md"))
        missing = call(base, keys.staff, "GET", path.format("hr/casework.mx"))
        assert forbidden.status_code == missing.status_code == 404
        assert forbidden.json()["error"]["message"].replace("casework.md", "X") == missing.json()["error"]["message"].replace("casework.mx", "X")
        assert call(base, keys.hr, "GET", path.format("hr/casework.md")).status_code == 200
    for doc in ("hr/casework.md", "nowhere.md"):  # a filter naming either finds nothing, alike
        response = call(base, keys.staff, "POST", "/v1/search", json={"question": f"{HR_WORD} payroll", "filters": {"doc_ids": [doc]}})
        assert response.status_code == 200 and response.json()["passages"] == []


def test_streams_chat_and_conversations_stay_in_scope(setup):
    base, keys, _ = setup
    question = f"What do {HR_WORD} hearings review?"
    streamed = call(base, keys.staff, "POST", "/v1/ask", json={"question": question, "stream": True})
    assert streamed.status_code == 200 and "Quokkaplan hearings" not in streamed.text
    assert "Quokkaplan hearings" in call(base, keys.hr, "POST", "/v1/ask", json={"question": question}).text
    chat = call(base, keys.staff, "POST", "/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]})
    assert chat.status_code == 200 and "Quokkaplan hearings" not in chat.text
    made = call(base, keys.hr, "POST", "/v1/conversations", json={}).json()
    assert made["owner"] == "hr-lead"
    reply = call(base, keys.hr, "POST", f"/v1/conversations/{made['id']}/messages", json={"question": question})
    assert reply.status_code == 200 and "Quokkaplan hearings" in reply.text
    assert call(base, keys.staff, "GET", f"/v1/conversations/{made['id']}").status_code == 404
    assert call(base, keys.staff, "POST", f"/v1/conversations/{made['id']}/messages", json={"question": "x?"}).status_code == 404
    assert call(base, keys.staff, "GET", "/v1/conversations").json() == {"conversations": []}


def test_admin_routes_need_an_admin_key(setup):
    base, keys, _ = setup
    refused = call(base, keys.hr, "POST", "/v1/admin/reload")
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "forbidden"
    assert call(base, keys.admin, "POST", "/v1/admin/reload").status_code == 200
    assert call(base, keys.hr, "GET", "/metrics").status_code == 403
    assert call(base, keys.hr, "GET", "/v1/corpus/health").status_code == 403  # the report names every document
    health = call(base, keys.admin, "GET", "/v1/corpus/health")
    assert health.status_code == 200 and health.json()["counts"]["documents"] >= 1


def test_the_audit_trail_says_who_saw_what_and_never_holds_a_key(setup, caplog):
    base, keys, settings = setup
    caplog.set_level(logging.INFO)
    call(base, keys.hr, "POST", "/v1/ask", json={"question": f"What do {HR_WORD} hearings review?"})
    call(base, keys.staff, "POST", "/v1/search", json={"question": f"{HR_WORD} hearings"})
    call(base, keys.hr, "GET", "/v1/documents/hr/casework.md")
    log = AuditLog(settings)
    who = [(r.key, r.route) for r in log.search("hr/casework.md")]
    assert who == [("hr-lead", "POST /v1/ask"), ("hr-lead", "GET /v1/documents/hr/casework.md")]
    staff = log.search(key="staffer")
    assert staff and all("hr/casework.md" not in r.documents for r in staff) and staff[0].question == f"{HR_WORD} hearings"
    text = log.path.read_text() + caplog.text
    for key in (keys.staff, keys.hr, keys.admin):
        assert key not in text and key.split("_", 2)[2] not in text
    assert '"key": "hr-lead"' in caplog.text  # the access log names the key, never holds it


def test_rate_limit_body_limit_and_headers(settings, fake_embedder):
    settings = settings.replace(rate_limit=0.5, rate_burst=2, max_body_bytes=2000, cors_origins="")
    keys = build_with_keys(settings, fake_embedder)
    with serving(settings, Assistant(settings, embedder=fake_embedder)) as base:
        statuses = [call(base, keys.staff, "GET", "/v1/documents") for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert int(statuses[2].headers["retry-after"]) >= 1 and statuses[2].json()["error"]["type"] == "rate_limited"
        assert call(base, keys.hr, "GET", "/v1/documents").status_code == 200  # another key has its own bucket
        big = call(base, keys.board, "POST", "/v1/ask", content=json.dumps({"question": "x" * 5000}),
                   headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["error"]["type"] == "payload_too_large"
        for name, value in (("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("referrer-policy", "no-referrer")):
            assert big.headers[name] == value and statuses[0].headers[name] == value
        assert "default-src 'none'" in statuses[0].headers["content-security-policy"]
        cors = httpx.get(base + "/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in cors.headers


def test_cors_is_on_for_configured_origins_only(settings, fake_embedder, built):
    from fastapi.testclient import TestClient

    from server.app import create_app

    settings = settings.replace(cors_origins="https://intranet.example")
    with TestClient(create_app(settings, Assistant(settings, embedder=fake_embedder))) as client:
        ok = client.options("/v1/ask", headers={"Origin": "https://intranet.example", "Access-Control-Request-Method": "POST"})
        assert ok.headers["access-control-allow-origin"] == "https://intranet.example"
        other = client.options("/v1/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers
