"""What operators see: /metrics in the Prometheus text format, one JSON access-log line per request."""

from __future__ import annotations

import json
import logging
import threading

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from rag.assistant import Assistant
from server.app import create_app, worker_threads


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_by_route_template_and_status_and_time_each_step(built, settings, fake_embedder):
    app = create_app(settings.replace(reload_interval=0), Assistant(settings, fake_embedder, batch_questions=True))
    with TestClient(app) as client:
        assert client.post("/v1/ask", json={"question": "How long is CCTV footage kept?"}).status_code == 200
        assert client.post("/v1/search", json={"question": "visitor badges"}).status_code == 200
        assert client.post("/v1/ask", json={"question": ""}).status_code == 422
        assert client.get("/v1/documents/no-such-doc.md").status_code == 404
        scrape = client.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    got = samples(scrape.text)
    assert got[("rag_requests_total", (("method", "POST"), ("route", "/v1/ask"), ("status", "200")))] == 1
    assert got[("rag_requests_total", (("method", "POST"), ("route", "/v1/ask"), ("status", "422")))] == 1
    assert got[("rag_requests_total", (("method", "GET"), ("route", "/v1/documents/{doc_id:path}"), ("status", "404")))] == 1
    assert got[("rag_request_duration_seconds_count", (("route", "/v1/search"), ("status", "200")))] == 1
    assert got[("rag_stage_duration_seconds_count", (("stage", "embedding"),))] == 2  # ask and search (warm-up comes first)
    assert got[("rag_stage_duration_seconds_count", (("stage", "answering"),))] == 1  # ask only
    batches = got[("rag_question_batch_size_count", ())]  # the warm-up question, then one per request, asked one at a time
    assert batches == 3 and got[("rag_question_batch_size_sum", ())] == batches
    assert got[("rag_build_info", (("build_id", built.build_id),))] == 1
    assert got[("rag_build_age_seconds", ())] >= 0


def test_one_json_log_line_per_request_without_the_question_unless_allowed(built, settings, fake_embedder, caplog):
    question = "How long is CCTV footage kept?"
    for allowed in (False, True):
        caplog.clear()
        app = create_app(settings.replace(reload_interval=0, log_questions=allowed), Assistant(settings, fake_embedder))
        with caplog.at_level(logging.INFO, logger="rag.access"), TestClient(app) as client:
            client.post("/v1/ask", json={"question": question})
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "rag.access"]
        assert len(lines) == 1
        line = lines[0]
        assert line["route"] == "/v1/ask" and line["status"] == 200 and line["build_id"] == built.build_id
        assert line["latency_ms"] > 0 and line["method"] == "POST"
        assert ("question" in line) is allowed and (question in json.dumps(line)) is allowed


def test_concurrent_requests_through_the_batcher_each_get_their_own_answer(built, settings, fake_embedder):
    app = create_app(settings.replace(reload_interval=0), Assistant(settings, fake_embedder, batch_questions=True))
    questions = ["How long is CCTV footage kept?", "Who signs off travel?", "visitor badges", "retention of payroll"] * 4
    with TestClient(app) as client:
        expected = {q: client.post("/v1/ask", json={"question": q}).json()["answer"] for q in set(questions)}
        got: dict[int, str] = {}

        def ask(i: int) -> None:
            got[i] = client.post("/v1/ask", json={"question": questions[i]}).json()["answer"]

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert all(got[i] == expected[questions[i]] for i in range(len(questions)))


def test_worker_threads_follow_the_cores_unless_set(settings):
    import os

    assert worker_threads(settings) == 2 * (os.cpu_count() or 1)
    assert worker_threads(settings.replace(server_threads=3)) == 3
